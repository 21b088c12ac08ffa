// The Deploy button: shown only to users with the deploy scope; asks first.

import { ApiError, api } from '../api';
import { h, icon, ICONS } from '../dom';
import { navigate } from '../router';
import { can } from '../session';
import { confirmDialog } from './dialog';
import { toast } from './notice';

export function deployButton(project: string, opts: { label?: string; small?: boolean } = {}): HTMLElement | null {
  if (!can('deploy')) return null;
  const btn = h(
    'button',
    { type: 'button', class: `btn primary${opts.small ? ' small' : ''}`, 'data-action': 'deploy', 'aria-label': `Deploy ${project}` },
    icon(ICONS.rocket),
    h('span', null, opts.label ?? 'Deploy'),
  );
  btn.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Deploy ${project}?`,
      body: h('p', null, 'This runs ', h('strong', null, project), "'s deploy script now, as a manual run."),
      confirm: 'Deploy',
    });
    if (!ok) return;
    btn.disabled = true;
    try {
      const run = await api.deploy(project);
      if (run) navigate(`/runs/${run.id}`);
    } catch (e) {
      toast(e instanceof ApiError ? `Could not deploy ${project}: ${e.message}` : String(e), 'error');
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}
