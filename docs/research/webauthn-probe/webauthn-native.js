"use strict";
// Variant using the WebAuthn L3 JSON helpers (no base64url code at all).
document.querySelectorAll("button[data-webauthn]").forEach(function (button) {
  var form = button.form, status = form.querySelector("[data-webauthn-status]");
  button.hidden = false;
  button.addEventListener("click", async function () {
    try {
      var pk = JSON.parse(button.dataset.options).publicKey, c;
      if (button.dataset.webauthn === "create") {
        c = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(pk) });
      } else {
        c = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(pk) });
      }
      form.elements.credential.value = JSON.stringify(c.toJSON());
      form.submit();
    } catch (e) {
      status.textContent = (e && e.name === "InvalidStateError") ? "This key is already registered." : "Cancelled or failed: " + (e && e.name) + " " + (e && e.message);
    }
  });
});
