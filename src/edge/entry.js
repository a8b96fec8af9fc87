// The Worker's entry module (placeholder while the lean path is built).
import * as gate from './index.js';

export default {
  fetch(request, env, ctx) {
    return gate.fetch(request, env, ctx);
  },
  scheduled(event, env, ctx) {
    return gate.scheduled(event, env, ctx);
  },
};
