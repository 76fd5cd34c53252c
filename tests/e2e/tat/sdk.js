// Drives Tencent Cloud's official Node.js SDK (tencentcloud-sdk-nodejs) for
// tests/e2e/test_22_tat.py: one call per run.
//   node sdk.js '{"endpoint": "127.0.0.1:PORT", "protocol": "http://",
//                 "secretId": "...", "secretKey": "...",
//                 "action": "RunCommand", "params": {...}}'
//   node sdk.js - < spec.json       (the same, read from standard input)
// Prints {"ok": <the SDK's answer>} or {"error": {"code", "message", "requestId"}}.
"use strict";
// The TAT service alone: loading every product of the SDK takes a second.
const { tat } = require("tencentcloud-sdk-nodejs/tencentcloud/services/tat");

const TatClient = tat.v20201028.Client;

async function main() {
  const spec = JSON.parse(process.argv[2] === "-" ?
    require("fs").readFileSync(0, "utf8") : process.argv[2]);
  const client = new TatClient({
    credential: { secretId: spec.secretId, secretKey: spec.secretKey },
    region: spec.region || "ap-guangzhou",
    profile: {
      signMethod: "TC3-HMAC-SHA256",
      httpProfile: {
        endpoint: spec.endpoint,
        protocol: spec.protocol || "http://",
        reqMethod: "POST",
        reqTimeout: 30,
      },
    },
  });
  if (typeof client[spec.action] !== "function") {
    throw new Error("the SDK has no action " + spec.action);
  }
  try {
    const ok = await client[spec.action](spec.params || {});
    process.stdout.write(JSON.stringify({ ok }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({
      error: { code: e.code || "", message: e.message || String(e), requestId: e.requestId || "" },
    }) + "\n");
  }
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(2);
});
