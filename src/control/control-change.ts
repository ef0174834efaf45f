// Moving a live control while the stream runs: the change is crossfaded across the next
// block (the old render reads the control's old value), as for every change of state.
// `set` and the modulators move controls through here.
import type { BendingParameter } from "../bending/parameter.js";
import { inaudibleStep, type PreviousState } from "./crossfade.js";

/** What moving a control needs from the session. */
export interface ControlChangeTarget {
  changeWithCrossfade(apply: () => boolean, undo?: PreviousState): void;
}

/**
 * Sets `control` to `value` (its own check applies: a value out of range throws and changes nothing).
 * A step too small to hear is applied without a crossfade (the block join is declicked): no second render.
 */
export function moveControl(target: ControlChangeTarget, control: BendingParameter, value: number): void {
  const old = control.value;
  target.changeWithCrossfade(() => {
    control.value = value;
    return old !== control.value && !inaudibleStep(old, control.value, control.range);
  }, (compute) => {
    // The old value is restored for the crossfade's old render: activation bendings read it then.
    const now = control.value;
    control.value = old;
    try {
      return compute();
    } finally {
      control.value = now;
    }
  });
}
