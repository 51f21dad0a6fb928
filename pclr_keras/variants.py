"""The released PCLR encoder variants, as data, and the lead names they speak.

Every other module (preprocessing, the encoder builder, export) reads the
input length, the leads and the architecture switches from this table, so a
variant is described in exactly one place. The numbers are those of the
models ml4h released (``model_zoo/PCLR``); ``c3po`` is what ml4h's
``get_model(ecg_len=2500, num_channels=12)`` builds. Lead names are the
shared vocabulary of readers and preprocessing, so their spelling lives here
too (`normalize_lead_name`).
"""

import dataclasses
import re

STANDARD_LEADS = (
    "I", "II", "III", "aVR", "aVL", "aVF",
    "V1", "V2", "V3", "V4", "V5", "V6",
)

_LEAD_PREFIX = re.compile(r"^lead[\s_\-:.]*", re.IGNORECASE)
_STANDARD_BY_LOWERCASE = {lead.lower(): lead for lead in STANDARD_LEADS}


def normalize_lead_name(name):
    """Maps a lead name as files spell it to its `STANDARD_LEADS` spelling.

    Args:
        name: str. E.g. "AVR", "v1", "Lead I", "LEAD_II", "lead-aVF".

    Returns:
        The standard name ("aVR", "V1", "I", ...), or `name` stripped of
        whitespace if it is no standard lead, so that callers can ignore
        extra channels such as the Frank leads vx, vy, vz.
    """
    stripped = str(name).strip()
    key = _LEAD_PREFIX.sub("", stripped).lower()
    return _STANDARD_BY_LOWERCASE.get(key, stripped)


# The lead sets real devices record, by name: a watch records lead I, a
# pocket device the limb leads, a Holter two channels. Reduced-lead input and
# lead-masked pre-training speak of these names (or of a comma list of leads).
LEAD_SETS = {
    "12": STANDARD_LEADS,
    "limb": STANDARD_LEADS[:6],
    "I,II": ("I", "II"),
    "I": ("I",),
    "II": ("II",),
    "precordial": STANDARD_LEADS[6:],
    "V2": ("V2",),
}


def parse_lead_set(spec):
    """A lead-set name (`LEAD_SETS`) or a comma list of leads -> standard lead names.

    Args:
        spec: str or sequence of str. E.g. "limb", "I,II", "avl, V5" or
            ("I", "II").

    Returns:
        tuple of `STANDARD_LEADS` names, in the standard order.

    Raises:
        ValueError: naming the unknown lead or set, or an empty set.
    """
    if isinstance(spec, str):
        if spec.strip() in LEAD_SETS:
            return LEAD_SETS[spec.strip()]
        spec = [part for part in spec.split(",") if part.strip()]
    leads = {normalize_lead_name(name) for name in spec}
    unknown = sorted(leads - set(STANDARD_LEADS))
    if unknown:
        raise ValueError(f"Unknown lead(s) {unknown}; leads are {list(STANDARD_LEADS)}, "
                         f"or a set name: {list(LEAD_SETS)}.")
    if not leads:
        raise ValueError(f"Empty lead set; name leads {list(STANDARD_LEADS)} "
                         f"or a set: {list(LEAD_SETS)}.")
    return tuple(lead for lead in STANDARD_LEADS if lead in leads)


# Every released model was trained on 10 s of signal stretched to its length.
ECG_DURATION_S = 10.0


@dataclasses.dataclass(frozen=True)
class EncoderVariant:
    """One released encoder: what it reads and how its stem is built.

    Args:
        name: str. The key of the variant in `VARIANTS`.
        leads: tuple of str. Lead names, in the order of the input channels.
        input_length: int. Samples per lead the encoder reads (10 s of ECG).
        stem_batchnorm: bool. Whether the stem conv is followed by batch
            normalization (all released variants but `lead_II`).
        description: str. One line for `--help` texts and model cards.
    """

    name: str
    leads: tuple
    input_length: int
    stem_batchnorm: bool
    description: str

    @property
    def num_leads(self):
        return len(self.leads)

    @property
    def sampling_rate(self):
        """The rate the 10 s of ECG are resampled to, in Hz."""
        return self.input_length / ECG_DURATION_S


VARIANTS = {
    "pclr": EncoderVariant(
        "pclr", STANDARD_LEADS, 4096, True,
        "12-lead PCLR, 10 s at 409.6 Hz (ml4h PCLR.h5 / PCLR/)"),
    "lead_I": EncoderVariant(
        "lead_I", ("I",), 4096, True,
        "lead I PCLR, 10 s at 409.6 Hz (ml4h PCLR_lead_I)"),
    "lead_II": EncoderVariant(
        "lead_II", ("II",), 2500, False,
        "lead II PCLR, 10 s at 250 Hz, stem without batch norm (ml4h PCLR_lead_II)"),
    "c3po": EncoderVariant(
        "c3po", STANDARD_LEADS, 2500, True,
        "12-lead PCLR at 250 Hz, as ml4h c3po_pclr.h5"),
}


def get_variant(name):
    """Returns the `EncoderVariant` called `name`, or raises a clear error."""
    if isinstance(name, EncoderVariant):
        return name
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(
            f"Unknown PCLR variant {name!r}; choose one of {sorted(VARIANTS)}."
        ) from None


def variant_for_input_shape(length, num_leads):
    """The 12-lead or single-lead variant an encoder input shape belongs to.

    Shape alone cannot tell `lead_I` from another 4096-sample single lead;
    it picks the released one.
    """
    for variant in VARIANTS.values():
        if (variant.input_length, variant.num_leads) == (length, num_leads):
            return variant
    raise ValueError(
        f"No PCLR variant reads input of shape ({length}, {num_leads}); known: "
        + ", ".join(f"{v.name} {(v.input_length, v.num_leads)}" for v in VARIANTS.values()))
