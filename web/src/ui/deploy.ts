// The Deploy button and its dialog: shown only to users with the deploy
// scope. The dialog asks for a branch or ref and a commit (both optional) and
// the project's declared inputs ([projects.X.inputs.NAME]: a text field, a
// list of choices or a checkbox each, with its description); the server
// checks them and a wrong one is shown under its field. "Deploy again" on a
// run page opens it filled with that run's ref, commit and inputs.

import { ApiError, api, type InputDecl, type Project } from '../api';
import { h, icon, ICONS } from '../dom';
import { navigate } from '../router';
import { can } from '../session';

export interface DeployPreset {
  ref?: string | null;
  commit?: string | null;
  inputs?: Record<string, string>;
}

let dialogCount = 0;

/** Opens the deploy dialog for PROJECT; resolves once it is closed (true: a run was started). */
export async function deployDialog(project: string, preset: DeployPreset = {}, known?: Project): Promise<boolean> {
  let decls: InputDecl[] = known?.inputs ?? [];
  let paused = known?.paused ?? null;
  if (!known) {
    try {
      const p = await api.project(project);
      decls = p.inputs ?? [];
      paused = p.paused ?? null;
    } catch {
      /* the server says what is wrong when the deploy is tried */
    }
  }
  const n = ++dialogCount;
  const id = (what: string) => `deploy-${n}-${what}`;
  const alert = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const errors = new Map<string, HTMLElement>();
  const controls = new Map<string, HTMLInputElement | HTMLSelectElement>();

  const field = (key: string, label: string, control: HTMLInputElement | HTMLSelectElement, hint?: string) => {
    control.id = id(key);
    const err = h('span', { class: 'field-error', id: id(`${key}-error`), hidden: true });
    errors.set(key, err);
    controls.set(key, control);
    const hintEl = hint ? h('span', { class: 'field-hint', id: id(`${key}-hint`) }, hint) : null;
    control.setAttribute('aria-describedby', [hintEl ? id(`${key}-hint`) : '', id(`${key}-error`)].filter(Boolean).join(' '));
    if (control instanceof HTMLInputElement && control.type === 'checkbox') {
      return h('div', { class: 'field check' }, control, h('label', { for: id(key) }, label), hintEl, err);
    }
    return h('div', { class: 'field' }, h('label', { for: id(key) }, label), control, hintEl, err);
  };

  const ref = h('input', { type: 'text', name: 'ref', autocomplete: 'off', spellcheck: 'false', placeholder: 'main, or refs/tags/v1.2' });
  ref.value = preset.ref ?? '';
  const commit = h('input', { type: 'text', name: 'commit', autocomplete: 'off', spellcheck: 'false', placeholder: 'the branch’s latest', pattern: '[0-9a-fA-F]{4,64}' });
  commit.value = preset.commit ?? '';
  const fields: Node[] = [
    field('ref', 'Branch or ref', ref, 'Optional: the script gets it as JENKY_REF and JENKY_BRANCH.'),
    field('commit', 'Commit', commit, 'Optional: a commit id (JENKY_COMMIT).'),
  ];
  for (const d of decls) {
    const given = preset.inputs?.[d.name];
    let control: HTMLInputElement | HTMLSelectElement;
    if (d.type === 'choice') {
      control = h('select', { name: d.name }, d.choices.map((c) => h('option', { value: c }, c)));
      control.value = given ?? String(d.default);
    } else if (d.type === 'bool') {
      control = h('input', { type: 'checkbox', name: d.name });
      control.checked = given !== undefined ? given === 'true' : d.default === true;
    } else {
      control = h('input', { type: 'text', name: d.name, autocomplete: 'off', spellcheck: 'false' });
      control.value = given ?? String(d.default ?? '');
    }
    fields.push(field(`input-${d.name}`, d.name, control, [d.description, `JENKY_INPUT_${d.name.toUpperCase().replace(/-/g, '_')}`].filter(Boolean).join(' · ')));
  }

  const ok = h('button', { type: 'submit', class: 'btn primary' }, 'Deploy');
  const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
  const titleId = id('title');
  const note = paused
    ? h('p', { class: 'paused-note', role: 'note' }, `${project} is paused by ${paused.by}${paused.reason ? `: ${paused.reason}` : ''}. Resume it on its page to deploy.`)
    : h('p', { class: 'muted' }, 'This runs ', h('strong', null, project), '’s deploy script now, as a manual run.');
  const form = h(
    'form',
    { method: 'dialog', novalidate: '' },
    h('h2', { id: titleId }, `Deploy ${project}`),
    h('div', { class: 'dialog-body' }, note, alert, h('div', { class: 'deploy-fields' }, fields)),
    h('div', { class: 'dialog-actions' }, cancel, ok),
  );
  const dlg = h('dialog', { class: 'dialog deploy-dialog', 'aria-labelledby': titleId }, form);

  const clearErrors = () => {
    alert.hidden = true;
    alert.textContent = '';
    for (const [key, el] of errors) {
      el.hidden = true;
      el.textContent = '';
      controls.get(key)?.removeAttribute('aria-invalid');
    }
  };
  const showError = (key: string, message: string) => {
    const el = errors.get(key);
    const control = controls.get(key);
    if (!el || !control) return false;
    el.textContent = message;
    el.hidden = false;
    control.setAttribute('aria-invalid', 'true');
    return true;
  };

  return new Promise((resolve) => {
    let answered = false;
    const done = (v: boolean) => {
      if (answered) return;
      answered = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancel.addEventListener('click', () => done(false));
    dlg.addEventListener('close', () => done(false));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors();
      const body: { ref?: string; commit?: string; inputs?: Record<string, string | boolean> } = {};
      if (ref.value.trim()) body.ref = ref.value.trim();
      if (commit.value.trim()) body.commit = commit.value.trim();
      if (decls.length) {
        body.inputs = {};
        for (const d of decls) {
          const c = controls.get(`input-${d.name}`)!;
          body.inputs[d.name] = c instanceof HTMLInputElement && c.type === 'checkbox' ? c.checked : c.value;
        }
      }
      ok.disabled = true;
      try {
        const run = await api.deploy(project, body);
        done(true);
        if (run) navigate(`/runs/${run.id}`);
      } catch (err) {
        const fieldsShown: string[] = [];
        if (err instanceof ApiError) {
          for (const [name, why] of Object.entries(err.fields)) {
            if (showError(`input-${name}`, why)) fieldsShown.push(name);
          }
          if (err.code === 'bad_request' && /^ref\b/.test(err.message)) fieldsShown.push(showError('ref', err.message) ? 'ref' : '');
          if (err.code === 'bad_request' && /^commit\b/.test(err.message)) fieldsShown.push(showError('commit', err.message) ? 'commit' : '');
        }
        alert.textContent =
          err instanceof ApiError
            ? fieldsShown.length
              ? `Could not deploy ${project}: fix the field${fieldsShown.length === 1 ? '' : 's'} below.`
              : `Could not deploy ${project}: ${err.message}`
            : String(err);
        alert.hidden = false;
        const firstBad = [...controls.values()].find((c) => c.getAttribute('aria-invalid') === 'true');
        (firstBad ?? ok).focus();
      } finally {
        ok.disabled = false;
      }
    });
    dlg.addEventListener('click', (e) => {
      if (e.target === dlg) done(false); // click on the backdrop
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    ok.focus();
  });
}

export function deployButton(project: string, opts: { label?: string; small?: boolean; known?: () => Project | undefined } = {}): HTMLElement | null {
  if (!can('deploy')) return null;
  const btn = h(
    'button',
    { type: 'button', class: `btn primary${opts.small ? ' small' : ''}`, 'data-action': 'deploy', 'aria-label': `Deploy ${project}` },
    icon(ICONS.rocket),
    h('span', null, opts.label ?? 'Deploy'),
  );
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      await deployDialog(project, {}, opts.known?.());
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}
