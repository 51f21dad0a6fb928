"""NT-Xent, the contrastive loss PCLR is trained with, and its pair accuracy.

Same arithmetic as ml4h's `simclr_loss` (after google-research/simclr):
projections are L2-normalised, row i of the first view and row i of the
second view are a positive pair, every other row of both views is a negative,
and self-similarities are masked out. Under a `tf.distribute` strategy the
negatives come from the whole global batch: each replica gathers both views
from all replicas, so the loss does not depend on how the batch is split.
"""

import tensorflow as tf

TEMPERATURE = 0.1
_LARGE_NUM = 1e9


def _gather_from_replicas(tensor):
    """Returns (tensor of the global batch, offset of this replica's rows)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensor, 0
    offset = context.replica_id_in_sync_group * tf.shape(tensor)[0]
    return context.all_gather(tensor, axis=0), offset


def contrastive_logits(hidden1, hidden2, temperature=TEMPERATURE, negatives=None):
    """Logits and one-hot labels of NT-Xent for both directions.

    Args:
        hidden1, hidden2: float tensors (local_batch, dim); row i of each is
            a positive pair.
        temperature: float. Softmax temperature (ml4h: 0.1).
        negatives: optional float tensor (local_extra, dim) of projections
            that are only ever negatives (e.g. ECGs of patients with one
            ECG), gathered from every replica like the views.

    Returns:
        `(logits_a, logits_b, labels)`: logits (local_batch, 2 * global_batch
        [+ global_extra]) for view 1 against [view 2, view 1, negatives] and
        view 2 against [view 1, view 2, negatives], and labels marking the
        positive column of each row.
    """
    hidden1 = tf.math.l2_normalize(tf.cast(hidden1, tf.float32), -1)
    hidden2 = tf.math.l2_normalize(tf.cast(hidden2, tf.float32), -1)
    hidden1_all, offset = _gather_from_replicas(hidden1)
    hidden2_all, _ = _gather_from_replicas(hidden2)
    global_batch = tf.shape(hidden1_all)[0]
    positives = tf.range(tf.shape(hidden1)[0]) + offset
    labels = tf.one_hot(positives, global_batch * 2)
    self_mask = tf.one_hot(positives, global_batch) * _LARGE_NUM

    logits_aa = tf.matmul(hidden1, hidden1_all, transpose_b=True) / temperature - self_mask
    logits_bb = tf.matmul(hidden2, hidden2_all, transpose_b=True) / temperature - self_mask
    logits_ab = tf.matmul(hidden1, hidden2_all, transpose_b=True) / temperature
    logits_ba = tf.matmul(hidden2, hidden1_all, transpose_b=True) / temperature
    logits_a = tf.concat([logits_ab, logits_aa], axis=1)
    logits_b = tf.concat([logits_ba, logits_bb], axis=1)
    if negatives is not None:
        negatives_all, _ = _gather_from_replicas(
            tf.math.l2_normalize(tf.cast(negatives, tf.float32), -1))
        logits_a = tf.concat(
            [logits_a, tf.matmul(hidden1, negatives_all, transpose_b=True) / temperature], 1)
        logits_b = tf.concat(
            [logits_b, tf.matmul(hidden2, negatives_all, transpose_b=True) / temperature], 1)
        labels = tf.pad(labels, [[0, 0], [0, tf.shape(negatives_all)[0]]])
    return logits_a, logits_b, labels


def _cross_entropy(logits_a, logits_b, labels):
    loss_a = tf.nn.softmax_cross_entropy_with_logits(labels, logits_a)
    loss_b = tf.nn.softmax_cross_entropy_with_logits(labels, logits_b)
    return tf.reduce_mean(loss_a) + tf.reduce_mean(loss_b)


def _hits(logits_a, logits_b, labels):
    target = tf.argmax(labels, axis=1)
    hits_a = tf.cast(tf.equal(tf.argmax(logits_a, axis=1), target), tf.float32)
    hits_b = tf.cast(tf.equal(tf.argmax(logits_b, axis=1), target), tf.float32)
    return (tf.reduce_mean(hits_a) + tf.reduce_mean(hits_b)) / 2


def nt_xent_and_pair_accuracy(hidden1, hidden2, temperature=TEMPERATURE, negatives=None):
    """`(nt_xent, pair_accuracy)` from one `contrastive_logits`: one gather, one matmul each.

    What a training step reports: the two values `nt_xent` and
    `pair_accuracy` give for the same arguments, at the cost of one.
    """
    logits = contrastive_logits(hidden1, hidden2, temperature, negatives)
    return _cross_entropy(*logits), _hits(*logits)


def nt_xent(hidden1, hidden2, temperature=TEMPERATURE, negatives=None):
    """NT-Xent loss of this replica's pairs, with global-batch negatives.

    `negatives` (optional): projections that are only negatives, see
    `contrastive_logits`.

    Returns the mean over local pairs of the cross-entropy of view 1 -> view 2
    plus that of view 2 -> view 1 (ml4h's `simclr_loss` adds the two means).
    Under a strategy, divide by `num_replicas_in_sync` before summing
    gradients across replicas.
    """
    return _cross_entropy(*contrastive_logits(hidden1, hidden2, temperature, negatives))


def pair_accuracy(hidden1, hidden2, temperature=TEMPERATURE, negatives=None):
    """Fraction of ECGs whose most similar other ECG is their pair.

    Label-free progress signal: averaged over both directions, against every
    other ECG of the (global) batch and any extra `negatives`, as ml4h's
    `simclr_accuracy`.
    """
    return _hits(*contrastive_logits(hidden1, hidden2, temperature, negatives))


def simclr_loss(y_true, y_pred):
    """Keras-loss form of `nt_xent`: `y_pred` stacks view 1 over view 2.

    Ignores `y_true`, like ml4h's `simclr_loss`, so upstream-style
    `model.compile(loss=simclr_loss)` + `fit` keeps working.
    """
    del y_true
    hidden1, hidden2 = tf.split(y_pred, 2, axis=0)
    return nt_xent(hidden1, hidden2)


def simclr_accuracy(y_true, y_pred):
    """Keras-metric form of `pair_accuracy` (ml4h's `simclr_accuracy`)."""
    del y_true
    hidden1, hidden2 = tf.split(y_pred, 2, axis=0)
    return pair_accuracy(hidden1, hidden2)
