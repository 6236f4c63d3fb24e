// What every screen asks: who is signed in, what their role may do (``me {
// permissions }``), which plugins are enabled. Controls are built only for what
// ``can`` allows, so a role never sees a button that would fail.

import { hasOperation } from "./gql.js";

// Page state, also read by the browser tests.
export const state = (window.kehuConsole = {
  viewer: null, plugins: new Set(), permissions: new Set(), masked: new Set(),
  events: [], live: "offline", view: null,
});

export const enabled = (plugin) => state.plugins.has(plugin);
export const can = (permission) => state.permissions.has(permission);
export const canRun = (permission, operation) => can(permission) && hasOperation(operation);
export const sees = (field) => !state.masked.has(field); // in clear: may order and search by it

export function setViewer(me, plugins) {
  state.viewer = me;
  state.plugins = new Set(plugins.filter((p) => p.enabled).map((p) => p.name));
  state.permissions = new Set(me?.permissions || []);
  state.masked = new Set(me?.maskedFields || []);
}

export function signedOut() {
  state.viewer = null;
  state.permissions = new Set();
  state.masked = new Set();
}

// Where a signed-in person starts: "my day" for whoever has contacts to follow up
// as their job (agents), the customer list for everyone else.
export function landing() {
  return state.viewer?.role === "AGENT" ? "#/my-day" : "#/customers";
}
