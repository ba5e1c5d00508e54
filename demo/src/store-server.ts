import { createServer, type Server } from 'node:http';
import { listen, readJson } from '@mcpstack/test-support/http-server';
import { answerStatelessMcp } from '@mcpstack/test-support/mcp';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

/** A small coffee shop: the sample MCP server of the demo (products, orders, shipping). */
const products = [
  { sku: 'BEAN-01', name: 'Espresso beans (1 kg)', priceUsd: 24, stock: 42 },
  { sku: 'BEAN-02', name: 'Single-origin Ethiopia (250 g)', priceUsd: 14, stock: 8 },
  { sku: 'KETTLE-01', name: 'Gooseneck pour-over kettle', priceUsd: 59, stock: 5 },
  { sku: 'GRINDER-01', name: 'Burr grinder', priceUsd: 129, stock: 0 },
];

interface Order {
  items: string[];
  status: string;
  carrier: string;
  eta: string;
}

const orders: Record<string, Order> = {
  'A-1001': { items: ['BEAN-01'], status: 'shipped', carrier: 'UPS 1Z999', eta: 'in 2 days' },
  'A-1002': {
    items: ['KETTLE-01', 'BEAN-02'],
    status: 'processing',
    carrier: 'not yet',
    eta: 'ships tomorrow',
  },
  'A-1003': { items: ['GRINDER-01'], status: 'backordered', carrier: 'not yet', eta: 'about 3 weeks' },
};

const shippingRates: Record<string, number> = { us: 5, ca: 9, uk: 12, de: 12, fr: 12 };

/** A tool's answer: one text, marked as an error for a request the shop cannot answer. */
function answer(text: string, isError = false) {
  return { content: [{ type: 'text' as const, text }], ...(isError && { isError }) };
}

/** What a tool tells of an order (`describe`), or that there is no such order. */
function aboutOrder(orderId: string, describe: (order: Order, id: string) => string) {
  const id = orderId.toUpperCase();
  const order = orders[id];
  return order ? answer(describe(order, id)) : answer(`There is no order ${orderId}.`, true);
}

function buildServer(): McpServer {
  const server = new McpServer({ name: 'demo-coffee-shop', version: '1.0.0' });
  server.registerTool(
    'search_products',
    {
      title: 'Search products',
      description: 'Search the catalog of products (coffee beans, kettles, grinders) with prices and stock.',
      inputSchema: { query: z.string().optional() },
    },
    async ({ query }) => {
      const words = (query ?? '').toLowerCase().split(/\W+/).filter(Boolean);
      const found = products.filter(
        (product) => words.length === 0 || words.some((word) => product.name.toLowerCase().includes(word)),
      );
      const list = found.length > 0 ? found : products;
      return answer(
        list
          .map(
            (p) =>
              `${p.name} (${p.sku}): $${p.priceUsd}, ${p.stock > 0 ? `${p.stock} in stock` : 'out of stock'}`,
          )
          .join('; '),
      );
    },
  );
  server.registerTool(
    'get_order',
    {
      title: 'Look up order',
      description: 'Look up an order by its id (like A-1001): status and items.',
      inputSchema: { orderId: z.string() },
    },
    async ({ orderId }) =>
      aboutOrder(orderId, (order, id) => `Order ${id} is ${order.status}: ${order.items.join(', ')}.`),
  );
  server.registerTool(
    'track_shipment',
    {
      title: 'Track shipment',
      description: 'Track the shipment and delivery of an order by its id: carrier and estimated arrival.',
      inputSchema: { orderId: z.string() },
    },
    async ({ orderId }) => aboutOrder(orderId, (order) => `Carrier: ${order.carrier}. Arrives ${order.eta}.`),
  );
  server.registerTool(
    'shipping_quote',
    {
      title: 'Shipping quote',
      description: 'Quote the shipping cost to a country code (us, ca, uk, de, fr).',
      inputSchema: { country: z.string() },
    },
    async ({ country }) => {
      const rate = shippingRates[country.toLowerCase()];
      return answer(
        rate === undefined
          ? `We do not ship to ${country} yet.`
          : `Shipping to ${country.toUpperCase()}: $${rate}.`,
      );
    },
  );
  return server;
}

/** Stateless Streamable HTTP at `/mcp` on 127.0.0.1. */
export async function startStoreServer(): Promise<{ url: string; close(): Promise<void> }> {
  const http: Server = createServer(async (request, response) => {
    if (request.url !== '/mcp' || request.method !== 'POST') {
      response.writeHead(request.url === '/mcp' ? 405 : 404).end();
      return;
    }
    let body: unknown;
    try {
      body = await readJson(request);
    } catch {
      response.writeHead(400).end();
      return;
    }
    await answerStatelessMcp(buildServer(), request, response, body);
  });
  const listening = await listen(http);
  return { url: `${listening.origin}/mcp`, close: listening.close };
}
