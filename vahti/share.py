"""`--share-sha256` of `vahti scan` and `vahti hunt`: plain SHA-256s for other teams.

vahti names content by a keyed content id (matchers/contentid.py), which nobody
else can match. To look a dump up elsewhere (VirusTotal, MISP, another CERT's
feed) the analyst asks for the plain SHA-256 explicitly; it is printed, never
stored, and only for inputs of at least `SHARE_MIN_BYTES`: below that a plain
hash is withheld, because small content is brute-forced back to its identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vahti.matchers.contentid import SHARE_MIN_BYTES

SHARE_HELP = (f"Also print the plain SHA-256 of every input of at least "
              f"{SHARE_MIN_BYTES >> 20} MiB, to match it with other teams (VirusTotal, MISP); "
              "printed only, never stored, withheld for smaller inputs.")
WITHHELD_REASON = (f"under {SHARE_MIN_BYTES >> 20} MiB: the plain SHA-256 of a small content "
                   "can be brute-forced back to the identifiers in it")


@dataclass
class ShareList:
    """The plain SHA-256s to print, and how many inputs had theirs withheld."""

    shared: list[dict] = field(default_factory=list)  # location, size, sha256
    withheld: int = 0

    def add(self, location: str, size: int, shareable_sha256: str) -> None:
        if shareable_sha256:
            self.shared.append({"location": location, "size": size, "sha256": shareable_sha256})
        else:
            self.withheld += 1

    def to_dict(self) -> dict:
        return {"shared": self.shared, "withheld": self.withheld,
                "withheld_reason": WITHHELD_REASON if self.withheld else ""}

    def lines(self) -> list[str]:
        out = [f"SHA-256 {s['sha256']}  {s['location']} ({s['size']} bytes)" for s in self.shared]
        if self.withheld:
            inputs = "input" if self.withheld == 1 else "inputs"
            out.append(f"SHA-256 withheld for {self.withheld} {inputs}, {WITHHELD_REASON}")
        return out
