// The console's shell: navigation by URL hash, the API key form, and the views.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { access, checkScopes, onAccess, setApiKey } from "./api.js";
import { html } from "./html.js";
import { ModelsView } from "./views/models.js";
import { PlaygroundView } from "./views/playground.js";
import { PluginsView } from "./views/plugins.js";
import { SystemView } from "./views/system.js";

const VIEWS = {
  models: ["Models", ModelsView],
  system: ["System", SystemView],
  playground: ["Playground", PlaygroundView],
  plugins: ["Plugins", PluginsView],
};

/** The part of the hash after '#': the view, then its sub-view ("playground/chat"). */
function useHash() {
  const read = () => (location.hash.slice(1) || "models").split("/");
  const [hash, setHash] = useState(read);
  useEffect(() => {
    const update = () => setHash(read());
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return hash;
}

function useAccess() {
  const [state, setState] = useState({ ...access });
  useEffect(() => {
    const stop = onAccess(setState);
    checkScopes();
    return stop;
  }, []);
  return state;
}

function KeyForm() {
  const submit = (event) => {
    event.preventDefault();
    setApiKey(new FormData(event.target).get("key").trim());
  };
  return html`<form class="keyform" role="alert" onSubmit=${submit}>
    <label>This service needs an API key. Key:
      <input name="key" type="password" autocomplete="off" required autofocus /></label>
    <button>Use key</button>
    <small>Kept in this tab only (sessionStorage).</small>
  </form>`;
}

function App() {
  const [view, sub] = useHash();
  const state = useAccess();
  const [, View] = VIEWS[view] || VIEWS.models;
  return html`
    <header>
      <h1><a href="#models">altlas</a></h1>
      <nav aria-label="Views">
        ${Object.entries(VIEWS).map(([id, [label]]) => html`
          <a href="#${id}" aria-current=${id === view ? "page" : undefined}>${label}</a>`)}
        <a href="../docs">API reference</a>
      </nav>
      ${state.name && state.name !== "anonymous" && html`<span>key <b>${state.name}</b></span>`}
      ${!state.admin && html`<span class="badge" title="This key lacks the admin scope: load, unload and pin are hidden">no admin</span>`}
    </header>
    ${state.needKey && html`<${KeyForm} />`}
    <main><${View} sub=${sub} admin=${state.admin} key=${state.needKey ? "locked" : view} /></main>`;
}

render(html`<${App} />`, document.getElementById("app"));
