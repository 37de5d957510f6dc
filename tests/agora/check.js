// Agora's own implementation (npm agora-token, pinned) as the judge of Bulwark's tokens.
//   node check.js verify <token> <certificate>   → JSON: parsed fields, services, signature check
//   node check.js build <app_id> <certificate> <channel> <account> <issue_ts> <salt> <expire> <publisher:0|1>
//                                                → JSON: the token and its inflated content (hex)
'use strict'
const zlib = require('zlib')
const { AccessToken2, ServiceRtc } = require('agora-token/src/AccessToken2')

const [cmd, ...args] = process.argv.slice(2)
if (cmd === 'verify') {
  const [token, certificate] = args
  const t = new AccessToken2()
  const parsed = t.from_string(token)
  const rtc = parsed ? t.services.filter(s => s.service_type() === 1) : []
  console.log(JSON.stringify({
    parsed,
    signature_ok: parsed && t.verifySignature(certificate),
    app_id: t.appId.toString(), issue_ts: t.issueTs, expire: t.expire, salt: t.salt,
    rtc: rtc.map(s => ({ channel: s.__channel_name.toString(), uid: s.__uid.toString(), privileges: s.__privileges })),
  }))
} else if (cmd === 'build') {
  const [appId, certificate, channel, account, issueTs, salt, expire, publisher] = args
  const t = new AccessToken2(appId, certificate, Number(issueTs), Number(expire))
  t.salt = Number(salt)
  const s = new ServiceRtc(channel, account)
  s.add_privilege(ServiceRtc.kPrivilegeJoinChannel, Number(expire))
  if (publisher === '1') {
    s.add_privilege(ServiceRtc.kPrivilegePublishAudioStream, Number(expire))
    s.add_privilege(ServiceRtc.kPrivilegePublishVideoStream, Number(expire))
    s.add_privilege(ServiceRtc.kPrivilegePublishDataStream, Number(expire))
  }
  t.add_service(s)
  const token = t.build()
  const content = zlib.inflateSync(Buffer.from(token.slice(3), 'base64')).toString('hex')
  console.log(JSON.stringify({ token, content }))
} else {
  console.error('usage: check.js verify|build ...')
  process.exit(2)
}
