"""The part of a Label Studio labeling config the backend serves: one ``Labels`` control over
one ``Text`` object, whatever their names, and optionally the reviewers' confirmation mark: a
``<Choices name="tokenlq_confirm">`` control, ticked in an annotation to say that a flagged
task's labels are right (:mod:`backend.reviews`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

__all__ = ["CONFIRM_CONTROL", "CONFIRM_XML", "ConfigError", "NerConfig", "parse_label_config"]

CONFIRM_CONTROL = "tokenlq_confirm"
# The control to add to a project's config (after its <Text>) so that reviewers can confirm a
# flagged task's labels from the labeling view; any ticked choice of it counts.
CONFIRM_XML = ('<Choices name="tokenlq_confirm" toName="{to_name}" showInline="true">'
               '<Choice value="Reviewed: the labels are right" hint="tokenlq: the flag is wrong; '
               'this task leaves the Label issues tab"/></Choices>')


class ConfigError(ValueError):
    """A labeling config the backend cannot serve; the message says why and what would work."""


@dataclass(frozen=True)
class NerConfig:
    from_name: str  # the Labels control's name: regions' from_name
    to_name: str  # the Text object's name: regions' to_name
    value_key: str  # the task data key holding the text ($text -> "text")
    labels: tuple[str, ...]  # entity types in config order
    confirm_name: str | None = None  # the confirmation mark's Choices control, if the config has one


def parse_label_config(xml: str) -> NerConfig:
    """The first ``Labels`` control whose ``toName`` is a ``Text`` object.

    >>> parse_label_config('<View><Labels name="ner" toName="t"><Label value="PER"/>'
    ...                    '<Label value="LOC"/></Labels><Text name="t" value="$body"/></View>')
    NerConfig(from_name='ner', to_name='t', value_key='body', labels=('PER', 'LOC'), confirm_name=None)
    """
    if not isinstance(xml, str) or not xml.strip():
        raise ConfigError("the labeling config is empty")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise ConfigError(f"the labeling config is not valid XML ({err})") from None
    texts = {node.get("name"): node for node in root.iter() if node.tag == "Text" and node.get("name")}
    if not texts:
        raise ConfigError("the labeling config has no <Text> object; tokenlq serves NER projects: "
                          "a <Labels> control over a <Text> object")
    controls = [node for node in root.iter() if node.tag == "Labels"]
    for control in controls:
        target = control.get("toName", "")
        if target in texts and control.get("name"):
            value = texts[target].get("value", "")
            if not value.startswith("$") or len(value) < 2:
                raise ConfigError(f"<Text name=\"{target}\"> must read its text from the task data "
                                  f"(value=\"$key\"); got value=\"{value}\"")
            labels = tuple(node.get("value") for node in control if node.tag == "Label"
                           and node.get("value"))
            if not labels:
                raise ConfigError(f"<Labels name=\"{control.get('name')}\"> lists no <Label value=...>")
            if len(set(labels)) != len(labels):
                raise ConfigError(f"<Labels name=\"{control.get('name')}\"> lists a label twice")
            confirm = any(node.tag == "Choices" and node.get("name") == CONFIRM_CONTROL
                          for node in root.iter())
            return NerConfig(control.get("name"), target, value[1:], labels,
                             CONFIRM_CONTROL if confirm else None)
    if controls:
        raise ConfigError("no <Labels> control points at a <Text> object (toName must be the name "
                          f"of one of: {sorted(texts)})")
    raise ConfigError("the labeling config has no <Labels> control; tokenlq serves NER projects: "
                      "a <Labels> control over a <Text> object")
