// A storefront talking to csp-orders from Node.js 20, with nothing but the standard library:
// place an order, follow it, supply the customer's tax ID when it is asked for, and receive
// the engine's webhooks, each signature verified (Standard Webhooks, docs/WEBHOOKS.md).
//
//   CSP_API_URL=http://127.0.0.1:8090 CSP_API_KEY=csp_k1.... CSP_WEBHOOK_SECRET=whsec_... \
//   WEBHOOK_PORT=9000 node examples/storefront-client.mjs
//
// Optional: ORDER_FILE (default examples/russian-customer-tax-id-later.json), ORDER_ID and
// DOMAIN_PREFIX (to place the sample again under fresh ids). The same steps translate directly
// to PHP or .NET: an HTTP client, JSON, and HMAC-SHA256.

import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const API = requiredEnv("CSP_API_URL").replace(/\/+$/, "");
const API_KEY = requiredEnv("CSP_API_KEY");
const WEBHOOK_SECRET = requiredEnv("CSP_WEBHOOK_SECRET");
const WEBHOOK_PORT = Number(requiredEnv("WEBHOOK_PORT"));
const ORDER_FILE = process.env.ORDER_FILE ?? "examples/russian-customer-tax-id-later.json";
const INVALID_TAX_ID = "7707083890"; // a Russian INN whose check digit is wrong
const VALID_TAX_ID = "7707083893";
const TOLERANCE_SECONDS = 5 * 60; // webhooks older or newer than this are refused (replays)
const OVERALL_TIMEOUT_MS = 120_000;

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) fail(`${name} is not set`);
  return value;
}

function fail(reason) {
  console.error(`FAILED: ${reason}`);
  process.exit(1);
}

// ---------------------------------------------------------------- webhooks: verifying

// The secret is "whsec_" + base64 of the key bytes.
const signingKey = Buffer.from(WEBHOOK_SECRET.replace(/^whsec_/, ""), "base64");

/** True when `body` (the raw bytes as received) carries a valid signature in `headers`. */
function verifyWebhook(headers, body) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures) return false;
  const sentAt = Number(timestamp);
  if (!Number.isInteger(sentAt)) return false;
  if (Math.abs(Date.now() / 1000 - sentAt) > TOLERANCE_SECONDS) return false;
  const expected = createHmac("sha256", signingKey)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest();
  // The header may list several signatures ("v1,<sig> v1,<sig>", during a secret rotation).
  return signatures.split(" ").some((entry) => {
    const [version, signature] = entry.split(",", 2);
    if (version !== "v1" || !signature) return false;
    const given = Buffer.from(signature, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

// ---------------------------------------------------------------- webhooks: receiving

const received = []; // verified events, in the order they arrived
const deliveries = new Map(); // event type -> the raw headers and body as received
const waiters = [];

const receiver = createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks);
    if (!verifyWebhook(request.headers, body)) {
      console.log("webhook rejected: bad signature or timestamp");
      response.writeHead(400).end();
      return;
    }
    response.writeHead(204).end(); // acknowledge at once; act on the event afterwards
    const event = JSON.parse(body.toString("utf8"));
    // The same webhook-id may arrive again (a retry after a lost answer): handle it once.
    if (received.some((seen) => seen.webhookId === request.headers["webhook-id"])) return;
    received.push({ webhookId: request.headers["webhook-id"], ...event });
    deliveries.set(event.type, { headers: request.headers, body });
    console.log(`webhook verified: ${event.type} sequence ${event.sequence}`);
    waiters.splice(0).forEach((wake) => wake());
  });
});

async function webhookOfType(type, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = received.find((event) => event.type === type);
    if (found) return found;
    if (Date.now() > deadline) fail(`no verified ${type} webhook within ${timeoutMs / 1000} s`);
    await new Promise((wake) => {
      waiters.push(wake);
      setTimeout(wake, 500);
    });
  }
}

// ---------------------------------------------------------------- the API

async function api(method, path, body) {
  const response = await fetch(`${API}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${API_KEY}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function untilPhase(orderId, phase, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await api("GET", `/v1/orders/${encodeURIComponent(orderId)}`);
    if (status !== 200) fail(`GET order answered ${status} (${body?.code})`);
    if (body.phase === phase) return body;
    if (["completed", "refused", "failed", "cancelled"].includes(body.phase)) {
      fail(`the order ended ${body.phase} (${body.refusal?.code ?? "no refusal"})`);
    }
    if (Date.now() > deadline) fail(`the order was not ${phase} within ${timeoutMs / 1000} s`);
    await new Promise((wake) => setTimeout(wake, 500));
  }
}

// ---------------------------------------------------------------- the storefront's steps

async function main() {
  await new Promise((listening) => receiver.listen(WEBHOOK_PORT, "127.0.0.1", listening));
  console.log(`webhook receiver on 127.0.0.1:${WEBHOOK_PORT}`);

  const order = JSON.parse(readFileSync(ORDER_FILE, "utf8"));
  if (process.env.ORDER_ID) order.order_id = process.env.ORDER_ID;
  if (process.env.DOMAIN_PREFIX) order.customer.domain_prefix = process.env.DOMAIN_PREFIX;
  const id = encodeURIComponent(order.order_id);

  // 1. Place the order: 201 the first time, 200 when the same order was placed before.
  const placed = await api("POST", "/v1/orders", order);
  if (placed.status !== 201 && placed.status !== 200) {
    fail(`placing the order answered ${placed.status} (${placed.body?.code})`);
  }
  console.log(`order placed: ${order.order_id} (${placed.status})`);

  // 2. Microsoft needs the Russian customer's INN: the order waits for it.
  await untilPhase(order.order_id, "waiting_for_tax_id");
  console.log("order waiting for tax ID");

  // 3. A wrong tax ID is refused with the reason; the order keeps waiting.
  const wrong = await api("POST", `/v1/orders/${id}/tax-id`, { tax_id: INVALID_TAX_ID });
  if (wrong.status !== 422) fail(`an invalid tax ID answered ${wrong.status}, not 422`);
  const reason = wrong.body.errors?.find((error) => error.field === "tax_id")?.reason;
  console.log(`invalid tax ID refused: ${wrong.body.code}: ${reason}`);

  // 4. The right one is accepted, and the order goes on to the end.
  const right = await api("POST", `/v1/orders/${id}/tax-id`, { tax_id: VALID_TAX_ID });
  if (right.status !== 200) fail(`the valid tax ID answered ${right.status} (${right.body?.code})`);
  console.log("tax ID accepted");
  const done = await untilPhase(order.order_id, "completed");
  const subscriptions = done.lines.map((line) => line.subscription_id).join(", ");
  console.log(`order completed: customer ${done.customer_id}, subscriptions ${subscriptions}`);

  // 5. The webhooks tell the same story, each verified.
  await webhookOfType("order.waiting_for_tax_id");
  const completed = await webhookOfType("order.completed");
  const sequence = received.map((event) => `${event.type}#${event.sequence}`).join(" -> ");
  console.log(`webhooks in order: ${sequence}`);
  if (completed.order_id !== order.order_id) fail("the order.completed webhook names another order");

  // 6. A body changed on the way fails verification.
  const original = deliveries.get("order.completed");
  const forged = original.body.toString("utf8").replace('"order.completed"', '"order.cancelled"');
  if (forged === original.body.toString("utf8")) fail("the webhook body could not be altered");
  if (!verifyWebhook(original.headers, original.body)) fail("the original no longer verifies");
  if (verifyWebhook(original.headers, Buffer.from(forged))) fail("a tampered webhook verified");
  // ...and the receiver answers it 400 (sent to it as a forger would, the headers replayed).
  const forgedAnswer = await fetch(`http://127.0.0.1:${WEBHOOK_PORT}/`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": original.headers["webhook-id"],
      "webhook-timestamp": original.headers["webhook-timestamp"],
      "webhook-signature": original.headers["webhook-signature"],
    },
    body: forged,
  });
  if (forgedAnswer.status !== 400) fail(`the receiver answered a forgery ${forgedAnswer.status}`);
  console.log(`tampered webhook body rejected (${forgedAnswer.status})`);
}

const timer = setTimeout(() => fail(`not done within ${OVERALL_TIMEOUT_MS / 1000} s`), OVERALL_TIMEOUT_MS);
main()
  .then(() => {
    clearTimeout(timer);
    receiver.close();
    console.log("done");
    process.exit(0);
  })
  .catch((error) => fail(error?.message ?? String(error)));
