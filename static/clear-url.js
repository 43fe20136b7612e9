// The callback URL carries the one-time code and the flow's nonce: take them out of the
// address bar and history so they are not left behind in the browser.
if (window.history && window.history.replaceState) {
  window.history.replaceState(null, "", "/callback");
}
