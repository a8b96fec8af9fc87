// Measuring instrument for `npm run bench`: the floor of a JavaScript Worker in front of the
// origin. No authentication, no header rewriting: the request goes to ORIGIN + path + query
// with its method, headers and body, and the origin's response streams back unchanged.
//
// Binding: ORIGIN (text), the origin's base URL.

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const target = env.ORIGIN.replace(/\/$/, '') + url.pathname + url.search;
    return fetch(new Request(target, request));
  },
};
