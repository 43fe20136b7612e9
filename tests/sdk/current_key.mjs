// Asks the stand-in for the current key's metadata through OpenRouter's official SDK, whose
// zod schemas reject a reply missing any field they require.
// Usage: node current_key.mjs <stand-in base URL> <api key>
// Prints one JSON object: {"ok":true,"data":...} or {"ok":false,"error":"..."}.
import { OpenRouter } from '@openrouter/sdk';

const [base, apiKey] = process.argv.slice(2);
const client = new OpenRouter({ apiKey, serverURL: new URL('api/v1', base).toString() });
try {
  const reply = await client.apiKeys.getCurrentKeyMetadata();
  console.log(JSON.stringify({ ok: true, data: reply.data }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e && e.message ? e.message : e) }));
}
