// Pausing a project: the banner at the top of its page (who paused it, why,
// when) and the Pause / Resume button, which asks for a reason first.

import { ApiError, api, type Project } from '../api';
import { h, icon, ICONS } from '../dom';
import { formatAbsolute, parseTime } from '../format';
import { can } from '../session';
import { toast } from './notice';

/** The banner saying a project is paused, or null when it is not. */
export function pausedBanner(p: Project): HTMLElement | null {
  if (!p.paused) return null;
  const at = parseTime(p.paused.at);
  return h(
    'div',
    { class: 'paused-banner', role: 'status' },
    icon(ICONS.pause),
    h(
      'p',
      null,
      h('strong', null, 'Paused'),
      ` by ${p.paused.by}`,
      at ? h('span', null, ' on ', h('time', { datetime: p.paused.at }, formatAbsolute(at))) : null,
      p.paused.reason ? h('span', null, ': ', h('q', { class: 'pause-reason' }, p.paused.reason)) : null,
      '. Nothing deploys: triggers are refused (409) and webhook deliveries are recorded as paused.',
    ),
  );
}

/** Asks why; resolves to the reason, or null if cancelled. */
function askReason(project: string): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h('input', { type: 'text', id: 'pause-reason', maxlength: 500, autocomplete: 'off', placeholder: 'e.g. database migration until 14:00' });
    const ok = h('button', { type: 'submit', class: 'btn danger' }, 'Pause');
    const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'pause-title' }, `Pause ${project}?`),
      h(
        'div',
        { class: 'dialog-body' },
        h('p', null, 'While paused nothing deploys: triggers from the UI, the CLI and the API are refused, webhook deliveries are recorded as paused, and runs waiting in the queue are cancelled. A running deploy goes on.'),
        h('div', { class: 'field' }, h('label', { for: 'pause-reason' }, 'Why (shown on the project page and in the audit log)'), input),
      ),
      h('div', { class: 'dialog-actions' }, cancel, ok),
    );
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'pause-title' }, form);
    let answered = false;
    const done = (v: string | null) => {
      if (answered) return;
      answered = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancel.addEventListener('click', () => done(null));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      done(input.value.trim());
    });
    dlg.addEventListener('close', () => done(null));
    document.body.appendChild(dlg);
    dlg.showModal();
    input.focus();
  });
}

/** Pause or Resume, for a user who may deploy; CHANGED runs after either worked. */
export function pauseButton(p: Project, changed: () => void): HTMLElement | null {
  if (!can('deploy')) return null;
  const paused = !!p.paused;
  const btn = h(
    'button',
    { type: 'button', class: 'btn', 'data-action': paused ? 'resume' : 'pause' },
    icon(paused ? ICONS.play : ICONS.pause),
    h('span', null, paused ? 'Resume' : 'Pause'),
  );
  btn.addEventListener('click', async () => {
    try {
      if (paused) {
        btn.disabled = true;
        await api.resume(p.name);
        toast(`${p.name} is resumed: it deploys again.`);
      } else {
        const reason = await askReason(p.name);
        if (reason === null) return;
        btn.disabled = true;
        await api.pause(p.name, reason);
        toast(`${p.name} is paused.`);
      }
      changed();
    } catch (e) {
      toast(e instanceof ApiError ? e.message : String(e), 'error');
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}
