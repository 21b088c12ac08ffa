// What the run page shows around the log: the commit as a link to the forge
// (the repository's address from the webhook payload) with its message and a
// copy button, the run's inputs, what a queued run waits behind, and the
// operator's actions on a finished run: Deploy again (same ref, commit and
// inputs) and Roll back to this run (projects whose recipe keeps releases).

import { ApiError, api, isFinished, type Project, type Run } from '../api';
import { h, icon, ICONS } from '../dom';
import { refLabel, shortCommit } from '../format';
import { navigate } from '../router';
import { can } from '../session';
import { deployDialog } from '../ui/deploy';
import { confirmDialog } from '../ui/dialog';
import { toast } from '../ui/notice';

/** The forge's page of COMMIT in the repository at REPO (GitHub, Gitea, Forgejo, GitLab). */
export function commitUrl(repo: string | null | undefined, commit: string | null | undefined, provider: string | null | undefined): string | null {
  if (!repo || !commit || !/^https?:\/\//.test(repo) || !/^[0-9a-f]{4,64}$/i.test(commit)) return null;
  const base = repo.replace(/\/+$/, '');
  return provider === 'gitlab' ? `${base}/-/commit/${commit}` : `${base}/commit/${commit}`;
}

/** The commit: a link to the forge when the run knows its repository, its message, a copy button. */
export function commitInfo(r: Run): HTMLElement | null {
  const t = r.trigger;
  if (!t.commit && !t.ref) return null;
  const parts: Node[] = [];
  if (t.commit) {
    const url = commitUrl(t.repository, t.commit, t.provider);
    const code = h('code', { class: 'commit', title: t.commit }, shortCommit(t.commit));
    parts.push(url ? h('a', { href: url, class: 'commit-link', 'data-native': '', rel: 'noopener noreferrer', target: '_blank', title: `${t.commit} on the forge` }, code) : code);
    const copy = h('button', { type: 'button', class: 'btn icon-btn copy-commit', 'aria-label': 'Copy the commit id', title: 'Copy the commit id' }, icon(ICONS.copy));
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(t.commit ?? '');
        toast('Commit id copied.');
      } catch {
        toast(`Could not copy; the commit id is ${t.commit}`, 'error');
      }
    });
    parts.push(copy);
  }
  const ref = refLabel(t);
  if (ref) parts.push(h('span', { class: 'ref', title: t.ref ?? ref }, ref));
  const box = h('span', { class: 'commit-info' }, ...parts);
  if (t.message) {
    const first = t.message.split('\n')[0];
    box.append(h('span', { class: 'commit-message', title: t.message }, first));
  }
  return box;
}

/** "level=debug · dry_run=false", or null without inputs. */
export function inputsLabel(r: Run): HTMLElement | null {
  const entries = Object.entries(r.inputs ?? {});
  if (!entries.length) return null;
  return h(
    'span',
    { class: 'run-inputs' },
    entries.map(([k, v], i) => [i ? ' · ' : '', h('code', null, `${k}=${v}`)]),
  );
}

/** What a queued run waits behind: the project's running run, or the queue. */
export async function queuedNote(r: Run, signal?: AbortSignal): Promise<string | null> {
  if (r.status !== 'queued') return null;
  try {
    const runs = await api.projectRuns(r.project, 50, undefined, signal);
    const running = runs.find((x) => x.status === 'running' && x.id !== r.id);
    const ahead = runs.filter((x) => x.status === 'queued' && x.id < r.id).length;
    const project = await api.project(r.project, signal).catch(() => null);
    if (project?.paused) return `Waiting: ${r.project} is paused by ${project.paused.by}${project.paused.reason ? ` (${project.paused.reason})` : ''}.`;
    if (running) {
      return `Waiting for run #${running.id} to finish${ahead ? `, then ${ahead} queued run${ahead === 1 ? '' : 's'} before this one` : ''} (one run of a project at a time).`;
    }
    return ahead ? `Waiting behind ${ahead} queued run${ahead === 1 ? '' : 's'}.` : 'Waiting to start.';
  } catch {
    return null;
  }
}

/** Deploy again / Roll back to this run, for a finished run and a user who may deploy. */
export function finishedActions(r: Run, project: Project | null): HTMLElement[] {
  if (!isFinished(r) || !can('deploy')) return [];
  const out: HTMLElement[] = [];
  const again = h('button', { type: 'button', class: 'btn', 'data-action': 'deploy-again', title: 'Deploy the same ref, commit and inputs again' }, icon(ICONS.rocket), h('span', null, 'Deploy again'));
  again.addEventListener('click', async () => {
    again.disabled = true;
    try {
      await deployDialog(r.project, { ref: r.trigger.ref, commit: r.trigger.commit, inputs: r.inputs }, project ?? undefined);
    } finally {
      again.disabled = false;
    }
  });
  out.push(again);
  if (project?.rollback && r.status === 'succeeded' && (r.action ?? 'deploy') === 'deploy') {
    const back = h('button', { type: 'button', class: 'btn', 'data-action': 'rollback', title: 'Switch back to the release this run made' }, icon(ICONS.undo), h('span', null, 'Roll back to this run'));
    back.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Roll ${r.project} back to run #${r.id}?`,
        body: h('p', null, 'This switches ', h('strong', null, r.project), ` back to the release run #${r.id} made and restarts it, as a new run.`),
        confirm: 'Roll back',
        danger: true,
      });
      if (!ok) return;
      back.disabled = true;
      try {
        const run = await api.rollback(r.project, r.id);
        if (run) navigate(`/runs/${run.id}`);
      } catch (e) {
        toast(e instanceof ApiError ? `Could not roll back: ${e.message}` : String(e), 'error');
      } finally {
        back.disabled = false;
      }
    });
    out.push(back);
  }
  return out;
}
