// A real SAML 2.0 identity provider for Bulwark's SAML SSO tests: samlify (pinned in
// package.json) on a free loopback port. Nobody types anything: the user is signed in already,
// so GET /sso answers the AuthnRequest (HTTP-Redirect binding) at once with the auto-submitting
// HTTP-POST form a browser would get. samlify parses the request (schema-validated) and builds
// and signs the Response itself (xml-crypto underneath). Configuration comes in IDP_CONFIG (JSON):
//   {"acs_url": "<SP ACS URL>", "sp_entity_prefix": "<SP entity ids start with this>",
//    "email": "<default signed-in user>", "port": N (optional; a free port when absent)}
// Prints {"entity_id", "sso_url", "metadata_url", "certificate"} on its first line once it
// listens; logs requests to stderr.
//
// GET /metadata                     samlify's IdP metadata
// GET /sso?SAMLRequest=..&RelayState=..[&email=..][&variant=sign_response|sign_both]
//   default: the Assertion is signed (ds:Signature right after the Assertion's Issuer);
//   sign_response: only the Response (ds:Signature right after the Response's Issuer);
//   sign_both: the Assertion, then the Response around it.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import forge from 'node-forge';
import samlify from 'samlify';
// samlify refuses to parse anything until a schema validator is set. This one is libxml2's
// xmllint compiled to WebAssembly (xmllint-wasm, run in a worker thread), with the SAML, xmldsig
// and xenc schemas bundled in the package: pure npm, no native build, no xmllint binary, no
// network. Not @authenio/samlify-node-xmllint, which installs and validates offline too, but its
// old emscripten build writes " " to stdout and adds a process-wide stdout 'drain' listener that
// calls process.exit(), plus an 'uncaughtException' listener, on every validation: no good for a
// long-running server whose stdout carries its one JSON line. (@authenio/samlify-xsd-schema-
// validator needs Java.)
import validator from '@authenio/samlify-xmllint-wasm';

// stdout carries exactly one JSON line (written below with process.stdout.write); whatever a
// library logs (the validator console.debug()s a rejected document) goes to stderr.
console.log = console.info = console.debug = console.error;

const { IdentityProvider, ServiceProvider, Constants, SamlLib, Utility, Extractor } = samlify;
samlify.setSchemaValidator(validator);

const config = JSON.parse(process.env.IDP_CONFIG);
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const log = (...args) => console.error('samlify-idp:', ...args);

// node:crypto makes keys but no X.509 certificate; node-forge (pinned, pure JS) makes the
// self-signed one. A fresh RSA-2048 keypair per run: the tests read the cert from stdout.
function selfSigned() {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01' + forge.util.bytesToHex(forge.random.getBytesSync(15));
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 3650 * 24 * 3600 * 1000);
  const name = [{ name: 'commonName', value: 'bulwark-test-idp-samlify' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  // forge writes CRLF line ends; the PEM handed out uses plain LF.
  const lf = (pem) => pem.replace(/\r\n/g, '\n');
  return { key: lf(forge.pki.privateKeyToPem(keys.privateKey)), cert: lf(forge.pki.certificateToPem(cert)) };
}
const { key, cert } = selfSigned();

// samlify's default login response template, plus an AuthnStatement (empty by default) and the
// email attribute (samlify's own attribute statement builder fills {AttributeStatement}).
const authnStatement =
  '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext>' +
  '<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>' +
  '</saml:AuthnContext></saml:AuthnStatement>';
const loginResponseTemplate = {
  context: SamlLib.defaultLoginResponseTemplate.context.replace('{AuthnStatement}', authnStatement),
  attributes: [
    {
      name: 'email',
      valueTag: 'email',
      nameFormat: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
      valueXsiType: 'xs:string',
    },
  ],
};

function html(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function postForm(acsUrl, samlResponse, relayState) {
  return (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Signing in</title></head><body>\n' +
    `<form method="post" action="${html(acsUrl)}">\n` +
    `<input type="hidden" name="SAMLResponse" value="${html(samlResponse)}">\n` +
    `<input type="hidden" name="RelayState" value="${html(relayState)}">\n` +
    '<noscript><button type="submit">Continue</button></noscript>\n' +
    '</form>\n<script>document.forms[0].submit();</script>\n</body></html>\n'
  );
}

const server = http.createServer();
server.listen(Number(config.port ?? 0), '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  const entityId = `${base}/metadata`;
  const ssoUrl = `${base}/sso`;
  const idp = IdentityProvider({
    entityID: entityId,
    signingCert: cert,
    privateKey: key,
    wantAuthnRequestsSigned: false,
    nameIDFormat: [EMAIL_FORMAT],
    singleSignOnService: [{ Binding: Constants.namespace.binding.redirect, Location: ssoUrl }],
    loginResponseTemplate,
  });

  // Any SP whose entity id starts with sp_entity_prefix: samlify wants SP metadata, so one is
  // made per request from the AuthnRequest's Issuer, with the configured ACS (HTTP-POST).
  function serviceProvider(entityID, variant) {
    return ServiceProvider({
      entityID,
      authnRequestsSigned: false,
      wantAssertionsSigned: variant !== 'sign_response',
      wantMessageSigned: variant === 'sign_both',
      nameIDFormat: [EMAIL_FORMAT],
      assertionConsumerService: [{ Binding: Constants.namespace.binding.post, Location: config.acs_url }],
    });
  }

  async function sso(url, res) {
    const q = url.searchParams;
    const samlRequest = q.get('SAMLRequest');
    if (!samlRequest) return reply(res, 400, 'SAMLRequest missing\n');
    const variant = q.get('variant') || 'sign_assertion';
    if (!['sign_assertion', 'sign_response', 'sign_both'].includes(variant)) return reply(res, 400, `unknown variant ${variant}\n`);
    // Only to know which SP is asking (samlify needs its metadata before it parses).
    let issuer;
    try {
      const xml = Utility.inflateString(samlRequest);
      issuer = Extractor.extract(xml, [{ key: 'issuer', localPath: ['AuthnRequest', 'Issuer'], attributes: [] }]).issuer;
    } catch (e) {
      log('bad AuthnRequest:', String(e));
      return reply(res, 400, 'bad AuthnRequest\n');
    }
    if (typeof issuer !== 'string' || !issuer.trim().startsWith(config.sp_entity_prefix)) {
      log('refused SP', issuer);
      return reply(res, 400, 'unknown service provider\n');
    }
    const sp = serviceProvider(issuer.trim(), variant);
    let requestInfo;
    try {
      requestInfo = await idp.parseLoginRequest(sp, 'redirect', { query: { SAMLRequest: samlRequest } });
    } catch (e) {
      log('AuthnRequest refused by samlify:', String(e));
      return reply(res, 400, 'bad AuthnRequest\n');
    }
    const email = q.get('email') || config.email;
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000);
    const id = '_' + randomUUID();
    const values = {
      ID: id,
      AssertionID: '_' + randomUUID(),
      Destination: config.acs_url,
      Audience: sp.entityMeta.getEntityID(),
      SubjectRecipient: config.acs_url,
      Issuer: entityId,
      IssueInstant: now.toISOString(),
      StatusCode: Constants.StatusCode.Success,
      ConditionsNotBefore: new Date(now.getTime() - 60 * 1000).toISOString(),
      ConditionsNotOnOrAfter: later.toISOString(),
      SubjectConfirmationDataNotOnOrAfter: later.toISOString(),
      NameIDFormat: EMAIL_FORMAT,
      NameID: email,
      InResponseTo: requestInfo.extract.request.id,
      SessionIndex: '_' + randomUUID(),
      attrEmail: email,
    };
    const { context } = await idp.createLoginResponse(sp, requestInfo, 'post', { email }, (template) => ({
      id,
      context: SamlLib.replaceTagsByValue(template, values),
    }));
    log('answered', values.InResponseTo, 'for', issuer, variant);
    // samlify's context is the base64 Response (no line breaks).
    return reply(res, 200, postForm(config.acs_url, context, q.get('RelayState') ?? ''), 'text/html; charset=utf-8');
  }

  function reply(res, status, body, type = 'text/plain; charset=utf-8') {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(body);
  }

  server.on('request', async (req, res) => {
    const url = new URL(req.url, base);
    log(req.method, url.pathname);
    try {
      if (req.method === 'GET' && url.pathname === '/metadata') {
        return reply(res, 200, idp.getMetadata(), 'application/samlmetadata+xml');
      }
      if (req.method === 'GET' && url.pathname === '/sso') return await sso(url, res);
      return reply(res, 404, 'not found\n');
    } catch (e) {
      log('error:', e && e.stack ? e.stack : String(e));
      return reply(res, 500, 'internal error\n');
    }
  });
  process.stdout.write(JSON.stringify({ entity_id: entityId, sso_url: ssoUrl, metadata_url: `${base}/metadata`, certificate: cert }) + '\n');
});
