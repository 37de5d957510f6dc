// A real OpenID Connect provider for Bulwark's SSO tests: panva's oidc-provider (pinned in
// package.json), on a free loopback port, with one account and two confidential clients
// (Bulwark's and another one, for the "code of another client" test). Nobody types anything:
// the login and consent interactions are finished by this server itself, so a test drives the
// whole redirect chain with a plain HTTP client. Configuration comes in IDP_CONFIG (JSON):
//   {"callback": "<Bulwark's callback URL>", "account": {"sub", "email", "email_verified", "name"},
//    "port": N (optional; a free port when absent)}
// Prints {"issuer": "http://127.0.0.1:<port>"} on its first line once it listens.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.IDP_CONFIG);
const account = config.account;

// A fresh RS256 signing key per run (the tests never need it to be stable).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'rsa-test-1', use: 'sig', alg: 'RS256' };

const server = http.createServer();
server.listen(Number(config.port ?? 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const client = (client_id, client_secret, redirect_uri) => ({
    client_id,
    client_secret,
    redirect_uris: [redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const provider = new Provider(issuer, {
    clients: [
      client('bulwark', 'bulwark-secret', config.callback),
      client('other-client', 'other-secret', 'http://other.test/cb'),
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ['bulwark-test-idp-cookie-key'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    // Scope claims (email) in the ID token itself, as most enterprise IdPs do.
    conformIdTokenClaims: false,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      if (id !== account.sub) return undefined;
      return { accountId: id, async claims() { return { sub: id, email: account.email, email_verified: account.email_verified, name: account.name }; } };
    },
  });
  const callback = provider.callback();
  server.on('request', async (req, res) => {
    if (!req.url.startsWith('/interaction/')) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
      } else {
        const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        grant.addOIDCScope(details.params.scope);
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      }
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  console.log(JSON.stringify({ issuer }));
});
