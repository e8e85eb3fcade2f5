// An OpenID Provider for the tests: the npm package oidc-provider (OpenID Certified),
// on loopback, with its development login form (any login, any password: the login is
// the account's `sub` and its preferred_username) and consent given in advance.
//
// Started by tests/oidc.py with OIDC_PORT, OIDC_CLIENTS (a JSON list of
// {"client_id", "client_secret"}) and NODE_PATH naming the install's node_modules. A
// new RSA signing key is made at each start: a restart on the same port is the
// provider rotating its keys. It prints "ready" once it listens.
//
// Two hooks for the tests, outside OpenID: POST /test/next-id-token with a JSON object
// of claims makes the next token response's ID token carry those claims instead (a
// wrong "aud", an "exp" in the past, null for one left out; "_kid": the key id its
// header names), signed again
// with the provider's own key, as a provider that got it wrong would sign it; and GET
// /test/jwks-fetches counts the requests for its keys.
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(path.join(process.env.NODE_PATH, 'noop.js'));
const { default: Provider } = await import(require.resolve('oidc-provider'));
const jose = await import(require.resolve('jose'));

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS).map((client) => ({
  ...client,
  redirect_uris: ['http://127.0.0.1/oidc/callback'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: client.token_endpoint_auth_method || 'client_secret_basic',
}));

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: `key-${Date.now()}`, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: ['a test provider signs its cookies with this'] },
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: `${id}@example.com` };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
});

// The chat server under test listens on a port chosen when it starts: any loopback
// redirect URI is this provider's registered one (by address, or as localhost: another
// site than the provider's 127.0.0.1, as a real provider is).
provider.Client.prototype.redirectUriAllowed = (value) => /^http:\/\/(127\.0\.0\.1|localhost):\d+\//.test(value);

let nextClaims = null;
let jwksFetches = 0;

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/next-id-token' && ctx.method === 'POST') {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    nextClaims = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    ctx.status = 204;
    return;
  }
  if (ctx.path === '/test/jwks-fetches') {
    ctx.body = { fetches: jwksFetches };
    return;
  }
  if (ctx.path === '/jwks') {
    jwksFetches += 1;
  }
  await next();
  if (ctx.path === '/token' && nextClaims && ctx.body && ctx.body.id_token) {
    const { _kid: kid = signingKey.kid, ...changes } = nextClaims;
    const claims = { ...jose.decodeJwt(ctx.body.id_token), ...changes };
    for (const [name, value] of Object.entries(changes)) {
      if (value === null) delete claims[name];   // null: the claim left out
    }
    nextClaims = null;
    ctx.body = {
      ...ctx.body,
      id_token: await new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .sign(privateKey),
    };
  }
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write('ready\n');
});
