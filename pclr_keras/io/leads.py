"""What several readers share: amplitude units, derived limb leads, lead order."""

from pclr_keras.variants import STANDARD_LEADS

# Unit spellings seen in ECG files (MUSE words, UCUM codes, plain symbols) -> mV.
TO_MILLIVOLTS = {
    "MICROVOLTS": 1e-3, "MICROVOLT": 1e-3, "UV": 1e-3, "µV": 1e-3, "μV": 1e-3,
    "MILLIVOLTS": 1.0, "MILLIVOLT": 1.0, "MV": 1.0,
    "VOLTS": 1e3, "VOLT": 1e3, "V": 1e3,
    "NANOVOLTS": 1e-6, "NANOVOLT": 1e-6, "NV": 1e-6,
}

# name -> function of (I, II): Einthoven's and Goldberger's relations.
DERIVED_LIMB_LEADS = {
    "III": lambda lead_i, lead_ii: lead_ii - lead_i,
    "aVR": lambda lead_i, lead_ii: -(lead_i + lead_ii) / 2.0,
    "aVL": lambda lead_i, lead_ii: lead_i - lead_ii / 2.0,
    "aVF": lambda lead_i, lead_ii: lead_ii - lead_i / 2.0,
}


def millivolts_per_unit(unit):
    """Factor from `unit` (e.g. "uV", "MICROVOLTS", "mV") to mV, or None if unknown."""
    unit = str(unit).strip()
    return TO_MILLIVOLTS.get(unit) or TO_MILLIVOLTS.get(unit.upper())


def add_derived_limb_leads(leads):
    """Adds III, aVR, aVL, aVF computed from I and II where `leads` lacks them.

    Args:
        leads: dict name -> samples (mV); changed in place.

    Returns:
        list of the names added (empty if I or II is missing).
    """
    by_lower = {name.lower(): name for name in leads}
    if "i" not in by_lower or "ii" not in by_lower:
        return []
    lead_i, lead_ii = leads[by_lower["i"]], leads[by_lower["ii"]]
    added = []
    for name, formula in DERIVED_LIMB_LEADS.items():
        if name.lower() not in by_lower:
            leads[name] = formula(lead_i, lead_ii)
            added.append(name)
    return added


def standard_order(names):
    """Standard 12-lead order first (as spelled in the file), then the rest as given."""
    rank = {name.lower(): i for i, name in enumerate(STANDARD_LEADS)}
    return sorted(names, key=lambda name: (rank.get(name.lower(), len(rank)), names.index(name)))
