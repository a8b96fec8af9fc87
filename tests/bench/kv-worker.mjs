// In-memory Workers KV for the benchmark's raw workerd (no Miniflare): workerd turns calls on a
// `kvNamespace` binding into HTTP requests to the service it names, in the same protocol
// Miniflare's KV implements — GET /<key>?urlencoded=true (404 when missing), PUT /<key>,
// DELETE /<key>, GET /?prefix=…&key_count_limit=…&cursor=… (list), POST /bulk/get.
//
// Binding: KV_DATA (json), the initial {key: string value} map. Writes live until workerd exits.

let store = null;

function keyOf(url) {
  const raw = url.pathname.slice(1);
  return url.searchParams.get('urlencoded')?.toLowerCase() === 'true' ? decodeURIComponent(raw) : raw;
}

export default {
  async fetch(request, env) {
    store ??= new Map(Object.entries(env.KV_DATA || {}));
    const url = new URL(request.url);

    if (request.method === 'POST' && url.pathname === '/bulk/get') {
      const { keys = [], type = 'text' } = await request.json();
      const out = {};
      for (const key of keys) {
        const value = store.get(key);
        out[key] = value === undefined ? null : type === 'json' ? JSON.parse(value) : value;
      }
      return Response.json(out);
    }
    if (request.method === 'GET' && url.pathname === '/') {
      const prefix = url.searchParams.get('prefix') || '';
      const keys = [...store.keys()].filter((k) => k.startsWith(prefix)).sort().map((name) => ({ name }));
      return Response.json({ keys, list_complete: true, cacheStatus: null });
    }

    const key = keyOf(url);
    switch (request.method) {
      case 'GET': {
        const value = store.get(key);
        return value === undefined ? new Response('Not Found', { status: 404 }) : new Response(value);
      }
      case 'PUT':
        store.set(key, await request.text());
        return new Response(null, { status: 200 });
      case 'DELETE':
        store.delete(key);
        return new Response(null, { status: 200 });
      default:
        return new Response('Method Not Allowed', { status: 405 });
    }
  },
};
