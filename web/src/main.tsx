// Entry point: read where the API is (/config.json: written at deploy time on AWS, served by
// the local server as "same origin"), then render the app.
import { render } from 'preact';

import { configure } from './api';
import { App } from './app';
import { takeCallback } from './lib/sso';
import './style.css';

async function start() {
  // A single sign-on's login code leaves the address bar before anything else happens.
  takeCallback();
  try {
    const resp = await fetch('/config.json', { cache: 'no-store' });
    if (resp.ok) configure(((await resp.json()) as { api_url?: string }).api_url ?? '');
  } catch {
    // No config: the API is on this origin.
  }
  render(<App />, document.getElementById('app')!);
}

void start();
