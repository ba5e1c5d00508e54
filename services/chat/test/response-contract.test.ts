import { describe, expect, it } from 'vitest';
import { assertDocumentedResponse } from './support/contract.ts';

/** A response as the harness receives it. */
function received(status: number, body: unknown, contentType = 'application/json') {
  const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
  return { status, headers: new Headers(text ? { 'content-type': contentType } : {}), body, text };
}

const organization = {
  id: 'org_1',
  slug: 'acme',
  name: 'Acme',
  planTier: 'free',
  createdOn: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
  agentCount: 0,
  mcpServerCount: 0,
  apiKeyCount: 0,
};
const notFound = { error: { code: 'not_found', message: 'No such thing', status: 404, requestId: 'req_1' } };
const path = '/api/v1/organizations/org_1';

describe('the harness holds every response to the OpenAPI document', () => {
  it('accepts a body its schema describes', () => {
    expect(() => assertDocumentedResponse('GET', path, received(200, organization))).not.toThrow();
  });

  it('refuses a field the schema does not declare (a leak)', () => {
    expect(() =>
      assertDocumentedResponse('GET', path, received(200, { ...organization, secretHash: 'x' })),
    ).toThrow(/does not declare/);
  });

  it('refuses a body that lacks a required field', () => {
    const { apiKeyCount: _left, ...partial } = organization;
    expect(() => assertDocumentedResponse('GET', path, received(200, partial))).toThrow(/apiKeyCount/);
  });

  it('refuses a status the route does not document', () => {
    expect(() =>
      assertDocumentedResponse(
        'GET',
        path,
        received(409, { error: { ...notFound.error, code: 'slug_taken', status: 409 } }),
      ),
    ).toThrow(/does not document/);
  });

  it('refuses an error outside the error shape, or whose status disagrees', () => {
    expect(() => assertDocumentedResponse('GET', path, received(404, { message: 'gone' }))).toThrow(
      /error shape/,
    );
    expect(() =>
      assertDocumentedResponse('GET', path, received(404, { error: { ...notFound.error, status: 400 } })),
    ).toThrow(/error.status/);
  });

  it('accepts the CSV the ledger documents, and refuses a media type a route does not', () => {
    const ledger = '/api/v1/organizations/org_1/ai-credits/ledger?format=csv';
    expect(() =>
      assertDocumentedResponse('GET', ledger, received(200, 'id,type\n', 'text/csv')),
    ).not.toThrow();
    expect(() => assertDocumentedResponse('GET', path, received(200, 'id,slug\n', 'text/csv'))).toThrow(
      /text\/csv/,
    );
  });

  it('checks only the errors of a path outside the route table', () => {
    expect(() => assertDocumentedResponse('GET', '/api/v1/nowhere', received(404, notFound))).not.toThrow();
    expect(() =>
      assertDocumentedResponse('GET', '/api/v1/nowhere', received(404, 'Not Found', 'text/html')),
    ).toThrow(/not JSON/);
  });
});
