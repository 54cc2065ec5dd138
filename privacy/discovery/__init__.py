"""PII discovery: find personal data in a dataset by column name, value patterns with checksums
and free-text spans (Presidio's analyzer, offline: no NLP model, nothing downloaded), and name
what the dataset config does not declare.

    hints        column-name hints (data: hints.yaml)
    recognizers  the offline Presidio analyzer: its pattern/checksum recognisers plus a name
                 gazetteer (first_names.txt, surnames.txt) and street-address patterns
    scan         scan_frame → ScanResult (per column: entities, shares, masked examples)
    step         scan_dataset_frame (a dataset config's frame) and pii_gate (the validation step)
"""

from privacy.discovery.scan import ColumnFinding, ScanResult, scan_frame
from privacy.discovery.step import pii_gate, scan_dataset_frame

__all__ = ["ColumnFinding", "ScanResult", "pii_gate", "scan_dataset_frame", "scan_frame"]
