// The two security-key buttons: "Add security key" on the settings page and
// "Use security key" on the challenge. A button
//   <button type="button" data-webauthn="create|get" data-start="URL">
// sits in a <form method="post"> with a hidden "credential" input. On click
// it asks the gateway's JSON API (data-start) for the browser's options,
// asks the browser for a key, writes the answer into "credential" and
// submits the form, so what follows is an ordinary page. Nothing else on
// the gateway's pages needs JavaScript.
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
  var said = {
    NotAllowedError: "The security key step was cancelled or timed out. Try again.",
    InvalidStateError: "This security key is already registered.",
    SecurityError: "Security keys do not work at this address.",
    AbortError: "The security key step was cancelled. Try again."
  };

  document.querySelectorAll("button[data-webauthn]").forEach(function (button) {
    var form = button.form, status = form.querySelector("[data-webauthn-status]");
    if (!window.PublicKeyCredential) return; // the <noscript>-like note stays
    button.hidden = false;
    form.querySelectorAll("[data-webauthn-hidden]").forEach(function (n) { n.hidden = true; });
    var creating = button.dataset.webauthn === "create";
    // Enter in a field starts the same ceremony as the button.
    form.addEventListener("submit", function (e) {
      if (!form.elements.credential.value) { e.preventDefault(); button.click(); }
    });
    button.addEventListener("click", async function () {
      button.disabled = true;
      status.textContent = "Follow your browser's prompt…";
      try {
        var body = {};
        if (creating) {
          body.name = form.elements.namedItem("name").value;
          body.password = form.elements.namedItem("password").value;
        }
        var started = await fetch(button.dataset.start, {
          method: "POST", credentials: "same-origin",
          headers: { "content-type": "application/json", "accept": "application/json" },
          body: JSON.stringify(body)
        });
        var options = await started.json();
        if (!started.ok) throw { message: options.message || "Please try again." };
        var answer = await (creating ? create : get)(options.publicKey);
        form.elements.credential.value = JSON.stringify(answer);
        form.submit();
      } catch (e) {
        button.disabled = false;
        status.textContent = (e && said[e.name]) || (e && e.message) || "That did not work. Try again.";
      }
    });
  });
})();
