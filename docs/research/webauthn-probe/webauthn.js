// WebAuthn buttons for server-rendered forms. A button
//   <button type="button" data-webauthn="create|get" data-options="{JSON from webauthn-rs}">
// sits in a <form method="post"> that has <input type="hidden" name="credential">.
// On click: decode the options' base64url fields, ask the authenticator, encode
// the answer's binary fields as base64url, put the JSON in the hidden input and
// submit the form. No fetch (so CSP needs no connect-src), no inline script.
"use strict";
(function () {
  function toBuf(s) { // base64url (no padding) -> ArrayBuffer
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    var bin = atob(s + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64u(buf) { // ArrayBuffer -> base64url without padding
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) { (list || []).forEach(function (c) { c.id = toBuf(c.id); }); }

  async function create(pk) {
    pk.challenge = toBuf(pk.challenge);
    pk.user.id = toBuf(pk.user.id);
    ids(pk.excludeCredentials);
    var c = await navigator.credentials.create({ publicKey: pk });
    return { id: c.id, rawId: toB64u(c.rawId), type: c.type,
      extensions: c.getClientExtensionResults(),
      response: { attestationObject: toB64u(c.response.attestationObject),
        clientDataJSON: toB64u(c.response.clientDataJSON),
        transports: c.response.getTransports ? c.response.getTransports() : [] } };
  }
  async function get(pk) {
    pk.challenge = toBuf(pk.challenge);
    ids(pk.allowCredentials);
    var c = await navigator.credentials.get({ publicKey: pk });
    var r = c.response;
    return { id: c.id, rawId: toB64u(c.rawId), type: c.type,
      extensions: c.getClientExtensionResults(),
      response: { authenticatorData: toB64u(r.authenticatorData),
        clientDataJSON: toB64u(r.clientDataJSON), signature: toB64u(r.signature),
        userHandle: r.userHandle ? toB64u(r.userHandle) : null } };
  }

  document.querySelectorAll("button[data-webauthn]").forEach(function (button) {
    var form = button.form, status = form.querySelector("[data-webauthn-status]");
    button.hidden = false;
    button.addEventListener("click", async function () {
      if (!window.PublicKeyCredential) { status.textContent = "This browser cannot use security keys."; return; }
      button.disabled = true;
      status.textContent = "Follow your browser's prompt…";
      try {
        var opts = JSON.parse(button.dataset.options);
        var answer = await (button.dataset.webauthn === "create" ? create : get)(opts.publicKey);
        form.elements.credential.value = JSON.stringify(answer);
        form.submit();
      } catch (e) {
        button.disabled = false;
        status.textContent = (e && e.name === "InvalidStateError")
          ? "This key is already registered." : "Cancelled or failed: " + (e && e.name) + " " + (e && e.message);
      }
    });
  });
})();
