import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

/**
 * A small authoritative DNS server over UDP on 127.0.0.1 for the domain-verification tests: it
 * answers TXT questions from `records` (name → TXT records, each a list of strings, as DNS splits
 * long records) and NXDOMAIN for names it does not know. Records can change while it runs.
 */
export interface TestDnsServer {
  /** `127.0.0.1:<port>`, the form MCPSTACK_DNS_SERVERS takes. */
  address: string;
  records: Map<string, string[][]>;
  queries: string[];
  stop(): Promise<void>;
}

const TXT = 16;

function readName(message: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let offset = start;
  for (;;) {
    const length = message[offset] ?? 0;
    if (length === 0) return { name: labels.join('.').toLowerCase(), end: offset + 1 };
    labels.push(message.subarray(offset + 1, offset + 1 + length).toString('latin1'));
    offset += length + 1;
  }
}

function txtRdata(strings: string[]): Buffer {
  return Buffer.concat(
    strings.map((text) => {
      const bytes = Buffer.from(text, 'utf8');
      return Buffer.concat([Buffer.from([bytes.length]), bytes]);
    }),
  );
}

export async function startTestDnsServer(): Promise<TestDnsServer> {
  const socket = createSocket('udp4');
  const records = new Map<string, string[][]>();
  const queries: string[] = [];
  socket.on('message', (message, remote) => {
    if (message.length < 12) return;
    const { name, end } = readName(message, 12);
    const type = message.readUInt16BE(end);
    queries.push(name);
    const question = message.subarray(12, end + 4);
    const found = records.get(name.replace(/\.$/, ''));
    const answers = type === TXT && found ? found : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(message.readUInt16BE(0), 0); // id
    // QR, AA, RD copied; RCODE 3 (NXDOMAIN) when the name is unknown.
    header.writeUInt16BE(0x8400 | (message.readUInt16BE(2) & 0x0100) | (found ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const body = answers.map((strings) => {
      const rdata = txtRdata(strings);
      const fixed = Buffer.alloc(12);
      fixed.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      fixed.writeUInt16BE(TXT, 2);
      fixed.writeUInt16BE(1, 4); // IN
      fixed.writeUInt32BE(60, 6);
      fixed.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([fixed, rdata]);
    });
    socket.send(Buffer.concat([header, question, ...body]), remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    records,
    queries,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
