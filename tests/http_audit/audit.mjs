// The GraphQL-over-HTTP audit (graphql-http's auditServer) against a served gateway.
// Usage: node audit.mjs <url> [header: value]...
// Prints one JSON line per audit {id, name, status, reason}; the Python test judges them.
import { auditServer } from 'graphql-http';

const [url, ...headerArgs] = process.argv.slice(2);
const headers = Object.fromEntries(
  headerArgs.map((arg) => {
    const at = arg.indexOf(':');
    return [arg.slice(0, at).trim(), arg.slice(at + 1).trim()];
  }),
);

// Every request of the audit carries the caller's credentials (an operator token): the audit
// speaks of the protocol, not of who may call what.
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, headers: { ...headers, ...(init.headers ?? {}) } });

const results = await auditServer({ url, fetchFn });
for (const result of results) {
  const { id, name, status } = result;
  const reason = status === 'ok' ? '' : result.reason;
  let body = '';
  if (status !== 'ok' && result.response) {
    try {
      body = `${result.response.status} ${await result.response.text()}`;
    } catch {
      body = '(body already read)';
    }
  }
  console.log(JSON.stringify({ id, name, status, reason, body }));
}
