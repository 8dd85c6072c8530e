// The GraphQL over HTTP specification's server audit (npm graphql-http), as JSON lines:
// node audit.mjs <url> [bearer token]
import { serverAudits } from 'graphql-http';

const [url, token] = process.argv.slice(2);
const fetchFn = token
  ? (input, init = {}) => fetch(input, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${token}` } })
  : fetch;
const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const { id, name, status, reason } = await audit.fn();
  results.push({ id, name, status, reason: reason ?? null });
}
console.log(JSON.stringify(results));
