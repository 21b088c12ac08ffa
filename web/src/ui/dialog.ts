// A confirmation dialog (<dialog>: modal, focus kept inside, Esc cancels).

import { h } from '../dom';

export interface ConfirmOptions {
  title: string;
  body: string | Node;
  confirm: string;
  danger?: boolean;
}

export function confirmDialog(opts: ConfirmOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'submit', class: opts.danger ? 'btn danger' : 'btn primary', value: 'ok' }, opts.confirm);
    const cancel = h('button', { type: 'button', class: 'btn', value: 'cancel' }, 'Cancel');
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const form = h(
      'form',
      { method: 'dialog' },
      h('h2', { id: titleId }, opts.title),
      h('div', { class: 'dialog-body' }, opts.body),
      h('div', { class: 'dialog-actions' }, cancel, ok),
    );
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': titleId }, form);
    let answered = false;
    const done = (v: boolean) => {
      if (answered) return;
      answered = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancel.addEventListener('click', () => done(false));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      done(true);
    });
    dlg.addEventListener('close', () => done(false));
    dlg.addEventListener('click', (e) => {
      if (e.target === dlg) done(false); // click on the backdrop
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    ok.focus();
  });
}
