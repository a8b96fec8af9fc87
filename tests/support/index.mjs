// The end-to-end harness: everything a test file needs, from one import.
export * from './keys.mjs';
export * from './process.mjs';
export * from './http.mjs';
export * from './origin.mjs';
export * from './origins.mjs';
export * from './gate.mjs';
export * from './stack.mjs';
export * from './expect.mjs';
