/**
 * HTTP credentials, one way for every server of sigflow (`sigflow serve`, the endpoint of `sigflow run`) and its
 * clients (`sigflow status`): bearer tokens and/or basic auth, compared in constant time (SHA-256 digests of equal
 * length), never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface HttpAuth {
  /** Accepted bearer tokens (`Authorization: Bearer <token>`). */
  tokens?: string[];
  /** Accepted basic-auth user and password. */
  basic?: { user: string; password: string };
}

const digest = (s: string) => createHash('sha256').update(s).digest();
const same = (a: string, b: Buffer) => timingSafeEqual(digest(a), b);

/** A check of an Authorization header against `auth`; null when `auth` accepts anyone (nothing configured). */
export function credentialCheck(auth: HttpAuth | undefined): ((header: string | undefined) => boolean) | null {
  const tokens = (auth?.tokens ?? []).filter((t) => t.length > 0).map(digest);
  const basic = auth?.basic ? digest(`${auth.basic.user}:${auth.basic.password}`) : null;
  if (tokens.length === 0 && !basic) return null;
  return (header) => {
    if (!header) return false;
    const sp = header.indexOf(' ');
    const scheme = header.slice(0, sp).toLowerCase();
    const cred = header.slice(sp + 1).trim();
    if (scheme === 'bearer') return tokens.some((t) => same(cred, t));
    if (scheme === 'basic' && basic) return same(Buffer.from(cred, 'base64').toString('utf8'), basic);
    return false;
  };
}

/** The WWW-Authenticate challenge of a refusal (basic when basic auth is configured: browsers then ask). */
export function authChallenge(auth: HttpAuth | undefined): string {
  return auth?.basic ? 'Basic realm="sigflow"' : 'Bearer';
}

/** The Authorization header a client sends for `auth` (its first token, else its basic credentials), or null. */
export function authorizationFor(auth: HttpAuth | undefined): string | null {
  const token = (auth?.tokens ?? []).find((t) => t.length > 0);
  if (token) return `Bearer ${token}`;
  if (auth?.basic) return `Basic ${Buffer.from(`${auth.basic.user}:${auth.basic.password}`).toString('base64')}`;
  return null;
}

/** True for a name or address only this machine reaches: localhost (and *.localhost), 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host name of a Host header: `[::1]:8080` → `::1`, `localhost:8080` → `localhost`. */
function hostnameOf(header: string): string {
  const h = header.trim();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/**
 * A guard against DNS rebinding for a server on a loopback address with no credentials configured: a request whose
 * Host header names another host (a site whose name was made to point at 127.0.0.1) is refused, so a browser page
 * cannot read the server or press its buttons (purge, replay): the guard returns why a Host is refused, or null.
 * Null — no guard — when the server listens beyond loopback (it is meant to be reached by other names) or asks for
 * credentials. No Host header (HTTP/1.0): allowed.
 */
export function localHostGuard(
  bindHost: string,
  auth: HttpAuth | undefined,
): ((hostHeader: string | undefined) => string | null) | null {
  if (credentialCheck(auth) !== null || !isLoopbackHost(bindHost)) return null;
  return (header) =>
    header === undefined || isLoopbackHost(hostnameOf(header))
      ? null
      : `Host ${JSON.stringify(header.slice(0, 200))} is not a name of this machine: a server on a loopback address without credentials answers only localhost and 127.0.0.1 (a guard against DNS rebinding)`;
}
