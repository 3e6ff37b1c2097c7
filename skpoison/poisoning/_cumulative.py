"""The cumulative schedule of batches (Alg. 2 repeated until the largest ratio)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .._progress import progress_bar
from .._torch_utils import to_tensor
from ..estimators._warnings import engine_warnings_once
from ..hypergrad import InnerDivergenceError
from ._attack import evaluate, optimize_batch


_MOVED_POINTS = (
    "In an attack the poisoning points move after the inner learning rate was chosen "
    "(inner_lr='auto': from the clean training set): a bounded feature_range, a lower "
    "poison_lr or a lower inner_lr keeps the poisoned training set trainable.")


class RatioState(NamedTuple):
    """The attack's state when a ratio is reached (tensors; poison rows are frozen)."""

    log_lambda: torch.Tensor
    val_loss: torch.Tensor
    path_length: int


def _kept_points(X_clean, Y_clean, replace_index, stop):
    """The clean points kept after ``stop`` replacements (per attack when batched).

    ``replace_index`` is ``(n_poison,)``, or ``(K, n_poison)`` with
    ``X_clean`` ``(K, n, d)``: every attack replaces its own rows (as many
    as the others), and the ``K`` attacks' kept rows are gathered at once.
    """
    n_train, device = X_clean.shape[-2], X_clean.device
    replaced = np.asarray(replace_index)[..., :stop]
    keep = np.ones((*replaced.shape[:-1], n_train), dtype=bool)
    np.put_along_axis(keep, replaced, False, axis=-1)
    # (row-major: each attack's kept rows, in order, n_train - stop of them)
    rows = to_tensor(np.nonzero(keep)[-1].reshape(*replaced.shape[:-1], -1), device=device)
    if X_clean.dim() == 2:
        return X_clean[rows], Y_clean[rows]
    attacks = torch.arange(X_clean.shape[0], device=device)[:, None]
    return X_clean[attacks, rows], Y_clean[attacks, rows]


def run_cumulative_attack(config, schedule, X_clean, Y_clean, X_poison, Y_poison,
                          lambda0, *, learn, mode, verbose=0, resume=None):
    """Optimize every batch of ``schedule`` in turn, freezing earlier batches.

    Parameters
    ----------
    config : AttackConfig
    schedule : Schedule
    X_clean, Y_clean : Tensor
        The clean training set (``(K, n, ...)`` when ``config.batched``; the
        schedule's ``replace_index`` is then ``(K, n_poison)``).
    X_poison, Y_poison : Tensor
        Initial features (validation clones) and flipped targets of all the
        poisoning points, in schedule order.
    lambda0 : Tensor
        λ at the start of every batch (re-initialized) or the fixed λ.
    learn : bool
    mode : {"replace", "inject"}
    verbose : int
    resume : ResumeFile or None
        Where the attack's state is saved after a batch (at most once per
        ``SAVE_INTERVAL`` seconds), and restored from when an earlier,
        interrupted run of the same attack left it.

    Returns
    -------
    X_poison : Tensor
        All the optimized poisoning points (rows ``:targets[i]`` are the
        poison at ratio ``i``).
    states : list of RatioState
        One per ratio.
    losses, lambdas : Tensor
        The validation loss and λ at every evaluation, in order.
    """
    # The engine warns per outer step (an implicit method's unconverged inner
    # problem, say): each category once per attack, at the user's line.
    with engine_warnings_once("attack"):
        return _CumulativeAttack(config, schedule, X_clean, Y_clean, X_poison, Y_poison,
                                 lambda0, learn=learn, mode=mode, verbose=verbose,
                                 resume=resume).run()


class _CumulativeAttack:
    """One run of :func:`run_cumulative_attack`: its phases and the state they share.

    The phases are the clean data (ratio 0, if asked for), then each batch of
    the schedule, in order. The poisoning points and the paths of validation
    losses and λ grow phase by phase; the phases an interrupted run finished
    are restored from ``resume`` and not run again, and the state is saved
    after a phase (at most once per ``SAVE_INTERVAL`` seconds).
    """

    def __init__(self, config, schedule, X_clean, Y_clean, X_poison, Y_poison, lambda0, *,
                 learn, mode, verbose, resume):
        self.config, self.schedule, self.lambda0 = config, schedule, lambda0
        self.X_clean, self.Y_clean, self.Y_poison = X_clean, Y_clean, Y_poison
        self.learn, self.mode, self.resume = learn, mode, resume
        self.X_poison = X_poison.clone()
        self.losses, self.lambdas = [], []
        self.finished = []             # the phases' RatioStates, in order
        self.engines = {}   # hypergradient callables by batch size, for the whole attack
        saved = None if resume is None else resume.load()
        if saved is not None:
            self.X_poison, self.losses, self.lambdas, self.finished = _restore(
                saved, config, self.X_poison)
        self.n_restored, self.n_started = len(self.finished), 0
        n_phases = len(schedule.batches) + int(schedule.targets[0] == 0)
        # (leave=None: kept alone, cleared when drawn under another bar, a sweep's)
        self.outer = progress_bar(total=n_phases, desc="batches", leave=None,
                                  disable=not verbose)
        self.inner = progress_bar(total=config.outer_steps, desc="outer steps",
                                  leave=False, disable=not verbose)

    def run(self):
        """``(X_poison, states, losses, lambdas)``, as :func:`run_cumulative_attack`."""
        # The bars are closed when the attack fails too (an interrupted one, say):
        # tqdm keeps open bars, and the next attack's would be drawn below them.
        with self.outer, self.inner:
            states = self._run_phases()
        return (self.X_poison, states, torch.stack(self.losses),
                torch.stack(self.lambdas))

    def _run_phases(self):
        """The phases in order: one RatioState per ratio."""
        states, clean_state = [], None
        batches = iter(self.schedule.batches)
        pending = next(batches, None)
        for index, target in enumerate(self.schedule.targets):
            if target == 0:
                if clean_state is None:
                    if self.learn:
                        clean_state = self._phase(lambda: self._optimize(
                            self.X_clean, self.Y_clean, 0, 0, "clean data"))
                        # (its CUDA graph's memory: no batch is empty)
                        self.engines.pop(0, None)
                    else:  # the fixed λ on clean data: one evaluation
                        clean_state = self._phase(self._evaluate_clean)
                states.append(clean_state)
                continue
            while pending is not None and pending[0] == index:
                _, start, stop = pending
                X_fixed, Y_fixed = self._training_set(start, stop)
                state = self._phase(lambda: self._optimize(
                    X_fixed, Y_fixed, start, stop, f"poisoning points {start + 1}-{stop}"))
                pending = next(batches, None)
            states.append(state)
        return states

    def _phase(self, compute):
        """The next phase's state: restored if an earlier run finished it, else computed."""
        index, self.n_started = self.n_started, self.n_started + 1
        if index < self.n_restored:
            self.outer.update()
            return self.finished[index]
        state = compute()
        self.finished.append(state)
        if self.resume is not None and self.resume.due():
            self.resume.save(_snapshot(self.config, self.X_poison, self.losses, self.lambdas,
                                       self.finished))
        return state

    def _training_set(self, start, stop):
        """The training set a batch ``start:stop`` joins: the kept clean points, earlier poison."""
        if self.mode == "replace":
            X_kept, Y_kept = _kept_points(self.X_clean, self.Y_clean,
                                          self.schedule.replace_index, stop)
        else:
            X_kept, Y_kept = self.X_clean, self.Y_clean
        return (torch.cat([X_kept, self.X_poison[..., :start, :]], dim=-2),
                torch.cat([Y_kept, self.Y_poison[..., :start, :]], dim=-2))

    def _optimize(self, X_fixed, Y_fixed, start, stop, desc):
        """Optimize the poisoning points ``start:stop`` (none: λ on clean data alone)."""
        self.outer.set_description(desc)
        self.inner.reset()
        steps_done = []

        def progress():
            steps_done.append(None)
            self.inner.update()

        try:
            optimized, log_lambda, phase_losses, phase_lambdas = optimize_batch(
                self.config, X_fixed, Y_fixed, self.X_poison[..., start:stop, :],
                self.Y_poison[..., start:stop, :], self.lambda0, learn=self.learn,
                progress=progress, engines=self.engines,
            )
        except InnerDivergenceError as exc:
            # Where no point has moved (clean data; the first step of the first
            # batch, whose points are validation points), the engine's own advice
            # is the whole story.
            if stop == 0 or (start == 0 and not steps_done):
                raise
            raise InnerDivergenceError(f"{exc} {_MOVED_POINTS}") from exc
        self.X_poison[..., start:stop, :] = optimized
        self.losses.extend(phase_losses)
        self.lambdas.extend(phase_lambdas)
        self.outer.update()
        return RatioState(log_lambda, phase_losses[-1], len(self.losses))

    def _evaluate_clean(self):
        """The fixed λ's validation loss on clean data (nothing to optimize)."""
        self.losses.append(evaluate(self.config, self.X_clean, self.Y_clean, self.lambda0))
        self.lambdas.append(self.lambda0)
        self.outer.update()
        return RatioState(self.lambda0, self.losses[-1], len(self.losses))


def _snapshot(config, X_poison, losses, lambdas, finished):
    """The attack's state after a phase, as a few plain tensors and lists (on the CPU).

    The paths are stacked: a torch file stores every tensor apart, and an
    attack evaluates thousands of times.
    """
    return {"X_poison": X_poison.detach().cpu(),
            "losses": torch.stack(losses).detach().cpu(),
            "lambdas": torch.stack(lambdas).detach().cpu(),
            "phases": [(s.log_lambda.detach().cpu(), s.val_loss.detach().cpu(),
                        int(s.path_length)) for s in finished],
            # The weight draws' stream (networks re-initialized at every step).
            "draws": None if config.draw_w0 is None else config.draw_w0.get_state()}


def _restore(saved, config, like):
    """:func:`_snapshot`'s state back on the attack's device."""
    def back(t):
        return t.to(like.device)     # (each in its own dtype, as it was saved)

    if config.draw_w0 is not None:
        config.draw_w0.set_state(saved["draws"])
    phases = [RatioState(back(log_lambda), back(val_loss), path_length)
              for log_lambda, val_loss, path_length in saved["phases"]]
    return (back(saved["X_poison"]), list(back(saved["losses"]).unbind(0)),
            list(back(saved["lambdas"]).unbind(0)), phases)
