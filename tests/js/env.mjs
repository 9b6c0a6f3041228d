// What the JavaScript tests are told by tests/api/client_js.rs: the
// server's address and the ids of its small district.

export const URL = process.env.FIELDSYNC_URL;

export function env(k) {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run through cargo test`);
  return v;
}

export const SITE = env('FIELDSYNC_SITE');
export const TEMPLATE = env('FIELDSYNC_TEMPLATE');
export const ROUTE = env('FIELDSYNC_ROUTE');
export const STOP = env('FIELDSYNC_STOP');
export const PASSWORD = env('FIELDSYNC_PASSWORD');
export const ADMIN_PASSWORD = env('FIELDSYNC_ADMIN_PASSWORD');
export const FIXTURES = env('FIELDSYNC_FIXTURES');
/** A stop of the district's route, as a new record's place. */
export const meta = { site_id: SITE, template_id: TEMPLATE, route_id: ROUTE, stop_id: STOP };

/** An access token for `user`. */
export async function token(user, password = PASSWORD) {
  const r = await fetch(`${URL}/api/v1/auth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: user, password }),
  });
  return (await r.json()).access_token;
}

/** One API call: `{status, body}`. */
export async function api(method, path, tok, body) {
  const r = await fetch(URL + path, {
    method,
    headers: { Authorization: `Bearer ${tok}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
