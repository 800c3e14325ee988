// Path normalization: RFC 3986 dot segments and percent-encoding; what is matched is what is forwarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeTarget, removeDotSegments } from '../../../../core/http/normalize-path.js';

function path(target: string, options?: Parameters<typeof normalizeTarget>[1]): string {
  const n = normalizeTarget(target, options);
  if ('error' in n) return `ERROR: ${n.error}`;
  return n.path + n.query;
}

test('plain paths and queries pass unchanged', () => {
  assert.equal(path('/public/hello?x=1&y=%2F'), '/public/hello?x=1&y=%2F');
  assert.equal(path('/'), '/');
});

test('dot segments are removed (RFC 3986 §5.2.4)', () => {
  assert.equal(path('/public/../echo'), '/echo');
  assert.equal(path('/a/./b/../c/'), '/a/c/');
  assert.equal(path('/../../etc/passwd'), '/etc/passwd');
  assert.equal(path('/a/..'), '/');
  assert.equal(removeDotSegments('/a/b/c/./../../g'), '/a/g');
});

test('percent-encoded unreserved characters are decoded, so %2e%2e is a dot segment', () => {
  assert.equal(path('/public/%2e%2e/echo'), '/echo');
  assert.equal(path('/public/%2E%2E/echo'), '/echo');
  assert.equal(path('/%7Euser/%61bc'), '/~user/abc');
});

test('other escapes are kept, uppercased, never decoded into separators', () => {
  assert.equal(path('/a%2fb'), '/a%2Fb');
  assert.equal(path('/a%20b'), '/a%20b');
  assert.equal(path('/a%252e%252e/b'), '/a%252e%252e/b');
});

test('encoded slashes can be refused by policy', () => {
  assert.match(path('/a%2Fb', { mergeSlashes: false, escapedSlashes: 'reject' }), /^ERROR/);
  assert.match(path('/a%5Cb', { mergeSlashes: false, escapedSlashes: 'reject' }), /^ERROR/);
});

test('slash merging is optional', () => {
  assert.equal(path('//echo//x'), '//echo//x');
  assert.equal(path('//echo//x', { mergeSlashes: true, escapedSlashes: 'keep' }), '/echo/x');
});

test('malformed targets are errors, never thrown', () => {
  for (const bad of ['', 'echo', '/a%zz', '/a%2', '/a\\b', '/a b', '/a?b#c', '/%00', '/\u00e9']) {
    assert.match(path(bad), /^ERROR/, bad);
  }
});

test('absolute-form keeps only path and query', () => {
  assert.equal(path('http://evil.example/echo/../public?q=1'), '/public?q=1');
});

test('a dot segment with parameters ("..;x", ".;x"), which servlet containers read as a dot segment, is refused', () => {
  for (const bad of ['/public/..;/admin', '/public/..;jsessionid=1/admin', '/public/.;/x', '/public/%2e%2e;/admin', '/..;/a']) {
    assert.equal(path(bad), 'ERROR: dot segment with parameters in path', bad);
  }
  assert.equal(path('/public/a..;b/x'), '/public/a..;b/x');
  assert.equal(path('/public/..a;/x'), '/public/..a;/x');
  assert.equal(path('/public;v=1/x'), '/public;v=1/x');
});
