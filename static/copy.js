// The gateway's only script, and optional: it reveals the "Copy" buttons and
// copies the text they point at. Without it the text is still selectable.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const target = document.getElementById(button.dataset.copy);
  if (!target || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(target.textContent.replace(/\s+/g, ""));
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select the key to copy it";
    }
  });
}
