// The GraphQL-over-HTTP server audits (graphql-http's serverAudits) against a
// live kehu server, signed in. Prints one JSON line per audit and exits non-zero
// on any error or warning (a failed MUST or SHOULD).
//   node audit.mjs http://127.0.0.1:PORT/graphql TOKEN
import { serverAudits } from 'graphql-http';

const [url, token] = process.argv.slice(2);
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${token}` } });

let failed = 0;
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  const line = { id: result.id, status: result.status, name: result.name };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    line.body = await result.response.text().catch(() => '');
    line.httpStatus = result.response.status;
    line.contentType = result.response.headers.get('content-type');
  }
  if (result.status === 'error' || result.status === 'warn') failed += 1;
  console.log(JSON.stringify(line));
}
process.exit(failed ? 1 : 0);
