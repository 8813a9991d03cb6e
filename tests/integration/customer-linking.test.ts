// Stripe customers and app users (issue #8): a user may have several Stripe customers; a Stripe
// customer links to a user only by a server-set id (metadata.user_id, an API-created Checkout
// session's client_reference_id, a customer the server registered), first claim wins; email-only
// and ambiguous matches wait in review for an admin; linking is race-free under concurrency.
import { afterAll, describe, expect, test } from "vitest";
import { ledger, sql } from "../helpers/db.ts";
import { deliver, deliverAll, event, uid } from "../helpers/stripe.ts";

afterAll(() => sql.end());
const t0 = () => Math.floor(Date.now() / 1000) - 3600;

/** An app user; confirmed users are leads (a customer row) at once. No email: a phone sign-up. */
async function newUser(opts: { confirmed?: boolean; noEmail?: boolean } = {}) {
  const email = opts.noEmail ? null : `link-${uid().slice(0, 10)}@example.com`;
  const [u] = await sql<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at) values (${email}, ${
    opts.confirmed === false ? null : new Date()
  })
    returning id`;
  return { id: u.id, email: email as string };
}

async function billingOf(userId: string) {
  return sql<{ id: string; billing_status: string; access_status: string }[]>`
    select id, billing_status, access_status from public.customers where user_id = ${userId}`;
}

const customerCreated = (cus: string, email: string | null, t: number, metadata: Record<string, string> = {}) =>
  event("customer_updated", { id: cus, email, name: `Name of ${cus}`, metadata }, {
    type: "customer.created",
    created: t,
  });

function subscription(
  cus: string,
  sub: string,
  status: string,
  t: number,
  metadata: Record<string, string> = {},
  type = "customer.subscription.created",
) {
  const name = type === "customer.subscription.created" ? "subscription_created" : "subscription_updated";
  return event(name, { id: sub, customer: cus, status, metadata }, { type, created: t });
}

/** A subscription-mode Checkout session; payment_link set means a Payment Link made it (not the server). */
function subscriptionCheckout(cus: string, sub: string, t: number, extra: Record<string, unknown> = {}) {
  return event("checkout_session_completed", {
    id: uid("cs_test_"),
    mode: "subscription",
    customer: cus,
    subscription: sub,
    payment_intent: null,
    payment_link: null,
    client_reference_id: null,
    metadata: {},
    payment_status: "paid",
    status: "complete",
    ...extra,
  }, { created: t });
}

async function exceptionFor(cus: string) {
  return sql<{ exception: string; subject: string; ref: string; error: string; next_action: string }[]>`
    select exception, subject, ref, error, next_action from ops.pipeline_exceptions
     where exception like 'customer%' and subject like ${"%" + cus + "%"}`;
}

describe("one user, several Stripe customers", () => {
  test("billing and access derive from the subscriptions of every Stripe customer linked to the user", async () => {
    const user = await newUser();
    const [cus1, cus2, sub1, sub2] = [uid("cus_"), uid("cus_"), uid("sub_"), uid("sub_")];
    const t = t0();
    await deliverAll([
      // the first subscription, on a customer the server created with metadata.user_id, ends
      customerCreated(cus1, user.email, t, { user_id: user.id }),
      subscription(cus1, sub1, "active", t + 1),
      subscription(cus1, sub1, "canceled", t + 2, {}, "customer.subscription.deleted"),
      // the second: Checkout without customer= made a new Stripe customer; the session the server
      // created names the user in client_reference_id
      customerCreated(cus2, user.email, t + 3),
      subscriptionCheckout(cus2, sub2, t + 4, { client_reference_id: user.id }),
      subscription(cus2, sub2, "active", t + 5),
    ]);
    const rows = await billingOf(user.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ billing_status: "active", access_status: "granted" });
    const subs = await sql`select stripe_subscription_id, customer_id from public.subscriptions
      where stripe_subscription_id in (${sub1}, ${sub2}) order by stripe_subscription_id`;
    expect(subs.map((s) => s.customer_id)).toEqual([rows[0].id, rows[0].id]);
    // the email match was settled by the server-set id: nothing waits in review
    expect(await exceptionFor(cus2)).toEqual([]);
    expect(await sql`select 1 from public.customers where user_id is null and email = ${user.email}`).toHaveLength(0);
  });

  test("deleting one of a user's Stripe customers cancels nothing the other still pays for", async () => {
    const user = await newUser();
    const [cus1, cus2] = [uid("cus_"), uid("cus_")];
    const t = t0();
    await deliverAll([
      subscription(cus1, uid("sub_"), "active", t, { user_id: user.id }),
      subscription(cus2, uid("sub_"), "active", t + 1, { user_id: user.id }),
      event("customer_updated", { id: cus1, email: null, metadata: {} }, { type: "customer.deleted", created: t + 2 }),
    ]);
    expect((await billingOf(user.id))[0]).toMatchObject({ billing_status: "active", access_status: "granted" });
    await deliverAll([
      event("customer_updated", { id: cus2, email: null, metadata: {} }, { type: "customer.deleted", created: t + 3 }),
    ]);
    expect((await billingOf(user.id))[0]).toMatchObject({ billing_status: "canceled", access_status: "blocked" });
  });

  test("a customer the server registered for a user links without any metadata", async () => {
    const user = await newUser();
    const cus = uid("cus_");
    await sql`select ops.register_stripe_customer(${cus}, ${user.id}::uuid)`;
    await deliverAll([
      customerCreated(cus, `other-${uid().slice(0, 6)}@example.com`, t0()),
      subscription(cus, uid("sub_"), "trialing", t0() + 1),
    ]);
    expect((await billingOf(user.id))[0]).toMatchObject({ billing_status: "trialing", access_status: "granted" });
    const [link] = await sql`select linked_by from ops.stripe_customers where stripe_customer_id = ${cus}`;
    expect(link.linked_by).toBe("server");
    // first claim wins for the server too
    const other = await newUser();
    await expect(sql`select ops.register_stripe_customer(${cus}, ${other.id}::uuid)`).rejects.toThrow(
      /linked to another user/,
    );
    expect(await billingOf(other.id)).toEqual([expect.objectContaining({ billing_status: "lead" })]);
  });
});

describe("only server-set ids link; everything else waits in review", () => {
  test("a stranger who types your email at Checkout does not take over your billing row", async () => {
    const victim = await newUser();
    const [cusS, subS, cusV, subV] = [uid("cus_"), uid("sub_"), uid("cus_"), uid("sub_")];
    const t = t0();
    await deliverAll([
      // the stranger pays through a Payment Link with the victim's email, and appends the victim's
      // id as ?client_reference_id= to the link's URL (anyone can)
      customerCreated(cusS, victim.email, t),
      subscriptionCheckout(cusS, subS, t + 1, { payment_link: "plink_test_x", client_reference_id: victim.id }),
      subscription(cusS, subS, "active", t + 2),
      subscription(cusS, subS, "past_due", t + 3, {}, "customer.subscription.updated"),
      // the victim subscribes through the app's own Checkout
      customerCreated(cusV, victim.email, t + 4, { user_id: victim.id }),
      subscription(cusV, subV, "active", t + 5, { user_id: victim.id }),
    ]);
    const [row] = await billingOf(victim.id);
    expect(row).toMatchObject({ billing_status: "active", access_status: "granted" });
    const [strangers] = await sql`select s.customer_id, c.user_id, c.needs_review, c.billing_status
      from public.subscriptions s join public.customers c on c.id = s.customer_id where s.stripe_subscription_id = ${subS}`;
    expect(strangers).toMatchObject({ user_id: null, needs_review: true, billing_status: "past_due" });
    expect(strangers.customer_id).not.toBe(row.id);
    const [exc] = await exceptionFor(cusS);
    expect(exc.exception).toBe("customer needs review");
    expect(exc.error).toMatch(/email/);
    expect(exc.next_action).toContain(`ops.link_stripe_customer('${cusS}'`);
    expect(exc.next_action).toContain("ops.resolve_customer_review(");
    // a row in review is no CRM contact: the stranger's name never reaches the victim's contact
    expect(
      await sql`select 1 from ops.jobs where kind = 'crm.contact' and payload ->> 'customer_id' = ${strangers.customer_id}`,
    )
      .toHaveLength(0);
  });

  test("an email-only match (confirmed or not) waits in review; an admin links it and its subscriptions follow", async () => {
    const confirmed = await newUser();
    const unconfirmed = await newUser({ confirmed: false });
    const [cusA, cusB, subA] = [uid("cus_"), uid("cus_"), uid("sub_")];
    const t = t0();
    await deliverAll([
      customerCreated(cusA, confirmed.email.toUpperCase(), t),
      subscription(cusA, subA, "active", t + 1),
      customerCreated(cusB, unconfirmed.email, t + 2),
    ]);
    expect((await billingOf(confirmed.id))[0]).toMatchObject({ billing_status: "lead", access_status: "blocked" });
    expect(await billingOf(unconfirmed.id)).toEqual([]);
    for (const [cus, user] of [[cusA, confirmed], [cusB, unconfirmed]] as const) {
      const [exc] = await exceptionFor(cus);
      expect(exc?.exception, cus).toBe("customer needs review");
      expect(exc.error).toContain(user.id);
    }

    const [{ linked }] =
      await sql`select ops.link_stripe_customer(${cusA}, ${confirmed.id}::uuid, 'ticket 42: same person') as linked`;
    const [row] = await billingOf(confirmed.id);
    expect(linked).toBe(row.id);
    expect(row).toMatchObject({ billing_status: "active", access_status: "granted" });
    expect(await exceptionFor(cusA)).toEqual([]);
    const [link] =
      await sql`select customer_id, linked_by, linked_note from ops.stripe_customers where stripe_customer_id = ${cusA}`;
    expect(link).toEqual({ customer_id: row.id, linked_by: "admin", linked_note: "ticket 42: same person" });
    const [sub] = await sql`select customer_id from public.subscriptions where stripe_subscription_id = ${subA}`;
    expect(sub.customer_id).toBe(row.id);
    // later events of the linked Stripe customer land on the user's row
    await deliverAll([subscription(cusA, subA, "past_due", t + 3, {}, "customer.subscription.updated")]);
    expect((await billingOf(confirmed.id))[0]).toMatchObject({ billing_status: "past_due", access_status: "grace" });

    // the other one is not the user's: the admin closes the review, and it stays unlinked
    const [{ id: reviewRow }] =
      await sql`select customer_id as id from ops.stripe_customers where stripe_customer_id = ${cusB}`;
    await sql`select ops.resolve_customer_review(${reviewRow}::uuid, 'not the same person')`;
    expect(await exceptionFor(cusB)).toEqual([]);
    await deliverAll([
      event("customer_updated", { id: cusB, email: unconfirmed.email, metadata: {} }, { created: t + 4 }),
    ]);
    expect(await exceptionFor(cusB)).toEqual([]); // a closed review does not reopen for the same email
    expect(await billingOf(unconfirmed.id)).toEqual([]);
  });

  test.each([
    ["metadata.user_id names no user", () => ({ user_id: "00000000-0000-4000-8000-00000000dead" }), /names no user/],
    ["metadata.user_id is not a uuid", () => ({ user_id: "not-a-uuid" }), /names no user/],
  ])("%s: the event is processed and the customer waits in review", async (_name, metadata, reason) => {
    const cus = uid("cus_");
    await deliverAll([customerCreated(cus, null, t0(), metadata())]);
    const [exc] = await exceptionFor(cus);
    expect(exc?.exception).toBe("customer needs review");
    expect(exc.error).toMatch(reason);
  });

  test("a session naming one user in metadata and another in client_reference_id is ambiguous: review, no link", async () => {
    const [a, b] = [await newUser(), await newUser()];
    const cus = uid("cus_");
    await deliverAll([
      subscriptionCheckout(cus, uid("sub_"), t0(), { client_reference_id: a.id, metadata: { user_id: b.id } }),
    ]);
    const [exc] = await exceptionFor(cus);
    expect(exc?.error).toMatch(/ambiguous/);
    const [link] = await sql`select linked_by from ops.stripe_customers where stripe_customer_id = ${cus}`;
    expect(link.linked_by).toBeNull();
  });

  test("first claim wins: a later claim for another user keeps the link and puts the conflict in review", async () => {
    const [first, second] = [await newUser(), await newUser()];
    const [cus, sub] = [uid("cus_"), uid("sub_")];
    await deliverAll([
      customerCreated(cus, first.email, t0(), { user_id: first.id }),
      subscription(cus, sub, "active", t0() + 1, { user_id: second.id }),
    ]);
    expect((await billingOf(first.id))[0]).toMatchObject({ billing_status: "active" });
    expect((await billingOf(second.id))[0]).toMatchObject({ billing_status: "lead" }); // their lead row, unchanged
    const [exc] = await exceptionFor(cus);
    expect(exc?.exception).toBe("customer needs review");
    expect(exc.error).toContain(second.id);
    expect(exc.ref).toBe((await billingOf(first.id))[0].id);
  });
});

describe("linking is race-free", () => {
  test("concurrent events creating and linking one user's Stripe customers are all processed on first delivery", async () => {
    // no email: no lead row yet, so the events race to create the user's customer row
    const user = await newUser({ noEmail: true });
    const email = `race-${uid().slice(0, 8)}@example.com`;
    const t = t0();
    const events = Array.from({ length: 6 }, () => [uid("cus_"), uid("sub_")]).flatMap(([cus, sub], i) => [
      customerCreated(cus, email, t + i, { user_id: user.id }),
      subscription(cus, sub, "active", t + i, { user_id: user.id }),
      subscriptionCheckout(cus, sub, t + i, { client_reference_id: user.id }),
    ]);
    const results = await Promise.all(events.map((e) => deliver(e)));
    expect(results.map((r) => r.status)).toEqual(events.map(() => 200));
    const rows = await ledger(events.map((e) => e.id));
    expect(rows.filter((r) => r.status !== "processed")).toEqual([]);
    expect(rows).toHaveLength(events.length);
    const attempts = await sql`select max(attempts)::int as n from ops.stripe_events where event_id = any(${
      events.map((e) => e.id)
    })`;
    expect(attempts[0].n).toBe(1);
    const [row] = await billingOf(user.id);
    expect(row).toMatchObject({ billing_status: "active", access_status: "granted" });
    const [{ n }] = await sql`select count(*)::int as n from public.subscriptions where customer_id = ${row.id}`;
    expect(n).toBe(6);
  });
});
