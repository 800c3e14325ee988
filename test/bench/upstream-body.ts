// The bench upstream's answer: ~100 bytes of JSON, the same from nginx and from the Node fallback.
export const UPSTREAM_BODY = '{"id":"item-0001","name":"bench item","price":12.5,"currency":"EUR","tags":["a","b"],"stock":42}';
