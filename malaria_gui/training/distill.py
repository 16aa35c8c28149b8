"""Knowledge distillation: a student learns the hard labels and a teacher's soft scores.

The teacher is one or more trained models averaged (an ensemble costs several times the
student's speed at inference; distilled, the student keeps its own speed). The teacher
scores each augmented batch as it is drawn, so the student learns how the teacher grades
blurred, re-stained or rimmed cells, not only the clean ones. Keras 3, backend-agnostic, in
the style of keras.io's "Knowledge Distillation" example.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import ops

EPSILON = 1e-6


def load_teacher(paths: list[str | Path]) -> keras.Model:
    """One model averaging the scores of the trained models at ``paths`` (same input size)."""
    if not paths:
        raise ValueError("no teacher model given")
    members = []
    for i, path in enumerate(paths):
        if not Path(path).is_file():
            raise FileNotFoundError(f"teacher model not found: {path}")
        member = keras.saving.load_model(path, compile=False, safe_mode=True)
        member.name = f"teacher_{i}"
        members.append(member)
    sizes = {tuple(m.input_shape[1:]) for m in members}
    if len(sizes) != 1:
        raise ValueError(f"teacher models take different input sizes: {sorted(sizes)}")
    inputs = keras.Input(shape=members[0].input_shape[1:])
    outputs = [m(inputs) for m in members]
    output = keras.layers.Average()(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, output, name="teacher")


def _logit(p):
    p = ops.clip(p, EPSILON, 1 - EPSILON)
    return ops.log(p) - ops.log(1 - p)


class Distiller(keras.Model):
    """Trains ``student``; ``teacher`` only scores. Both output one sigmoid unit."""

    def __init__(self, student: keras.Model, teacher: keras.Model, alpha: float = 0.5, temperature: float = 2.0):
        super().__init__()
        self.student = student
        self.teacher = teacher
        teacher.trainable = False  # else the optimiser moves the teacher towards the student
        self.alpha = alpha
        self.temperature = temperature

    def compile(self, optimizer, student_loss, metrics=None):
        super().compile(optimizer=optimizer, metrics=metrics)
        self.student_loss = student_loss

    def call(self, x, training=False):
        return self.student(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        soft = ops.sigmoid(_logit(self.teacher(x, training=False)) / self.temperature)
        soft_pred = ops.sigmoid(_logit(y_pred) / self.temperature)
        distillation = keras.losses.binary_crossentropy(soft, soft_pred)
        # Scaled by T^2 so the soft term's gradients keep their size as T changes (Hinton et al.).
        return (self.alpha * self.student_loss(y, y_pred)
                + (1 - self.alpha) * self.temperature ** 2 * ops.mean(distillation))
