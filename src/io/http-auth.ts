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
