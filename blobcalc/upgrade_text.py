"""A legacy prototxt's text upgraded to the current V2 format, as Caffe's upgrade_net_proto_text tool
writes it (tools/upgrade_net_proto_text.cpp: read the text, UpgradeNetAsNeeded, print the text)."""
from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import text_format

from blobcalc.parse import parse_net
from blobcalc.upgrade import upgrade_net


@dataclass(frozen=True, slots=True)
class UpgradedText:
    text: str  # the upgraded NetParameter in protobuf text format
    era: str  # the format the input was written in
    notices: tuple[str, ...]  # what the upgrade did; empty for a file already in the latest format

    @property
    def changed(self) -> bool:
        return bool(self.notices)


def upgrade_text(text: str, source: str) -> UpgradedText:
    """Parse `text`, upgrade it as Caffe does and print it back; raises ParseError / UpgradeError where
    the tool would fail."""
    upgraded = upgrade_net(parse_net(text, source), source)
    printed = text_format.MessageToString(upgraded.net, as_utf8=True)
    return UpgradedText(printed, upgraded.era, upgraded.notices)
