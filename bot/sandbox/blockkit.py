"""Block Kit validation for the sandbox Slack: the limits Slack enforces on messages and views.

Payloads are parsed with `slack_sdk.models` and checked with its validators, then against Slack's
documented limits that the SDK does not check (block counts, unique ids, plain_text-only fields).
Every function returns human-readable violation strings; an empty list means Slack would accept it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_BLOCK_ID = 255
MAX_INPUT_LABEL = 2000
MAX_PLACEHOLDER = 150
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
MAX_TEXT_INPUT_LENGTH = 3000

TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
VIEW_TYPES = frozenset({"modal", "home"})
# Elements whose `options` are shown in a menu, where Slack only renders plain_text labels.
_MENU_ELEMENTS = frozenset({"static_select", "multi_static_select", "overflow"})
# Errors the SDK's model constructors raise on malformed dicts (wrong types, missing keys).
_PARSE_ERRORS = (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError)


def validate_message_text(text: Any) -> list[str]:
    """Check a message's top-level `text` against Slack's type and length limits."""
    if text is None:
        return []
    if not isinstance(text, str):
        return [f"text must be a string, got {type(text).__name__}"]
    if len(text) > MAX_MESSAGE_TEXT:
        return [f"text is {len(text)} characters; Slack allows at most {MAX_MESSAGE_TEXT}"]
    return []


def validate_message_blocks(blocks: Any) -> list[str]:
    """Check the `blocks` of a message (chat.postMessage, chat.update, response_url)."""
    return _validate_blocks(blocks, max_blocks=MAX_MESSAGE_BLOCKS, where="blocks")


def validate_view(view: Any) -> list[str]:
    """Check a modal or App Home view as views.open/update/push/publish receive it."""
    if not isinstance(view, dict):
        return [f"view must be a JSON object, got {type(view).__name__}"]
    errors: list[str] = []
    view_type = view.get("type")
    if view_type not in VIEW_TYPES:
        errors.append(f"view.type must be one of {sorted(VIEW_TYPES)}, got {view_type!r}")
    if view_type == "modal" and view.get("title") is None:
        errors.append("view.title is required for a modal")
    if view_type == "home" and (view.get("submit") is not None or view.get("close") is not None):
        errors.append("a home view cannot have submit or close")
    for key in ("title", "submit", "close"):
        if view.get(key) is not None:
            errors += _check_text(f"view.{key}", view[key], max_len=MAX_VIEW_TITLE, plain_only=True)
    metadata = view.get("private_metadata")
    if metadata is not None and (
        not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA
    ):
        errors.append(f"view.private_metadata must be a string of at most {MAX_PRIVATE_METADATA}")
    callback_id = view.get("callback_id")
    if callback_id is not None and (
        not isinstance(callback_id, str) or len(callback_id) > MAX_CALLBACK_ID
    ):
        errors.append(f"view.callback_id must be a string of at most {MAX_CALLBACK_ID}")
    if "blocks" not in view:
        errors.append("view.blocks is required")
    else:
        errors += _validate_blocks(view["blocks"], max_blocks=MAX_VIEW_BLOCKS, where="view.blocks")
    if not errors:
        errors += _sdk_view_errors(view)
    return errors


def _sdk_view_errors(view: dict[str, Any]) -> list[str]:
    """Run slack_sdk's own view validators (blocks are validated separately)."""
    try:
        View(**view).validate_json()
    except _PARSE_ERRORS as exc:
        return [f"view: {exc}"]
    return []


def _validate_blocks(blocks: Any, *, max_blocks: int, where: str) -> list[str]:
    """Validate a list of blocks with the SDK and Slack's limits."""
    if not isinstance(blocks, list):
        return [f"{where} must be a JSON array, got {type(blocks).__name__}"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"{where} has {len(blocks)} blocks; Slack allows at most {max_blocks}")
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        path = f"{where}[{index}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"{path} must be an object with a string type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 1 <= len(block_id) <= MAX_BLOCK_ID:
                errors.append(f"{path}.block_id must be 1..{MAX_BLOCK_ID} characters")
            elif block_id in seen_block_ids:
                errors.append(f"{path}.block_id {block_id!r} is not unique in the payload")
            else:
                seen_block_ids.add(block_id)
        errors += _sdk_block_errors(path, block)
        errors += _check_block(path, block)
    return _dedupe(errors)


def _sdk_block_errors(path: str, block: dict[str, Any]) -> list[str]:
    """Parse one block with slack_sdk and run its validators on every nested object."""
    serialized = json.dumps(block, sort_keys=True, separators=(",", ":"))
    return [path + error for error in _sdk_errors_for(serialized)]


# Cards repeat many blocks verbatim (headers, dividers, modal inputs); parsing with slack_sdk is
# the costliest step of a fake API call, so results are memoised by the block's canonical JSON.
@functools.lru_cache(maxsize=4096)
def _sdk_errors_for(serialized: str) -> tuple[str, ...]:
    """Return the SDK's errors for one block, with paths relative to the block."""
    block = json.loads(serialized)
    try:
        parsed = Block.parse(block)
    except _PARSE_ERRORS as exc:
        return (f": slack_sdk could not parse the block: {exc}",)
    if parsed is None:
        return (f": unknown block type {block.get('type')!r}",)
    errors: list[str] = []
    _sdk_validate_tree("", parsed, errors)
    return tuple(errors)


def _sdk_validate_tree(path: str, obj: JsonObject, errors: list[str]) -> None:
    """Run slack_sdk's validators on a parsed object and everything it contains."""
    try:
        for name in _validator_names(type(obj)):
            getattr(obj, name)()
    except _PARSE_ERRORS as exc:
        errors.append(f"{path}: {exc}")
    for name in sorted(obj.attributes):
        value = getattr(obj, name, None)
        if isinstance(value, JsonObject):
            _sdk_validate_tree(f"{path}.{name}", value, errors)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, JsonObject):
                    _sdk_validate_tree(f"{path}.{name}[{index}]", item, errors)


@functools.cache
def _validator_names(cls: type[JsonObject]) -> tuple[str, ...]:
    """List the `@JsonValidator` methods `validate_json()` would run for a class.

    `validate_json()` rediscovers them with `dir()` on every call, which dominated the cost of
    posting 10,000 cards; running the same validators from a per-class list is equivalent.
    """
    return tuple(
        name
        for name in dir(cls)
        if not name.startswith("__") and hasattr(getattr(cls, name, None), "validator")
    )


def _check_block(path: str, block: dict[str, Any]) -> list[str]:
    """Check the Slack limits of one block that the SDK leaves unchecked."""
    kind = block["type"]
    errors: list[str] = []
    if kind == "section":
        if block.get("text") is None and not block.get("fields"):
            errors.append(f"{path}: a section needs text or fields")
        if block.get("text") is not None:
            errors += _check_text(f"{path}.text", block["text"], max_len=MAX_SECTION_TEXT)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
                errors.append(f"{path}.fields must be a list of at most {MAX_SECTION_FIELDS}")
            else:
                for i, field in enumerate(fields):
                    errors += _check_text(f"{path}.fields[{i}]", field, max_len=MAX_FIELD_TEXT)
        if block.get("accessory") is not None:
            errors += _check_element(f"{path}.accessory", block["accessory"])
    elif kind == "header":
        errors += _check_text(
            f"{path}.text", block.get("text"), max_len=MAX_HEADER_TEXT, plain_only=True
        )
    elif kind == "context":
        errors += _check_context(path, block.get("elements"))
    elif kind == "actions":
        errors += _check_actions(path, block.get("elements"))
    elif kind == "input":
        errors += _check_text(
            f"{path}.label", block.get("label"), max_len=MAX_INPUT_LABEL, plain_only=True
        )
        if block.get("hint") is not None:
            errors += _check_text(
                f"{path}.hint", block["hint"], max_len=MAX_INPUT_LABEL, plain_only=True
            )
        errors += _check_element(f"{path}.element", block.get("element"))
    return errors


def _check_context(path: str, elements: Any) -> list[str]:
    """Check a context block: at most 10 text or image elements."""
    if not isinstance(elements, list) or not elements:
        return [f"{path}.elements must be a non-empty list"]
    errors: list[str] = []
    if len(elements) > MAX_CONTEXT_ELEMENTS:
        errors.append(
            f"{path}.elements has {len(elements)} items; Slack allows at most "
            f"{MAX_CONTEXT_ELEMENTS}"
        )
    for i, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") == "image":
            continue
        errors += _check_text(f"{path}.elements[{i}]", element, max_len=None)
    return errors


def _check_actions(path: str, elements: Any) -> list[str]:
    """Check an actions block: at most 25 elements with unique action_ids."""
    if not isinstance(elements, list) or not elements:
        return [f"{path}.elements must be a non-empty list"]
    errors: list[str] = []
    if len(elements) > MAX_ACTIONS_ELEMENTS:
        errors.append(
            f"{path}.elements has {len(elements)} items; Slack allows at most "
            f"{MAX_ACTIONS_ELEMENTS}"
        )
    seen: set[str] = set()
    for i, element in enumerate(elements):
        errors += _check_element(f"{path}.elements[{i}]", element)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in seen:
                errors.append(
                    f"{path}.elements[{i}].action_id {action_id!r} is not unique in the block"
                )
            seen.add(action_id)
    return errors


def _check_element(path: str, element: Any) -> list[str]:
    """Check an interactive element (button, input, select, checkboxes...)."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"{path} must be an object with a string type"]
    kind = element["type"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (
        not isinstance(action_id, str) or not 1 <= len(action_id) <= MAX_ACTION_ID
    ):
        errors.append(f"{path}.action_id must be 1..{MAX_ACTION_ID} characters")
    if element.get("placeholder") is not None:
        errors += _check_text(
            f"{path}.placeholder", element["placeholder"], max_len=MAX_PLACEHOLDER, plain_only=True
        )
    if kind == "button":
        errors += _check_text(
            f"{path}.text", element.get("text"), max_len=MAX_BUTTON_TEXT, plain_only=True
        )
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            errors.append(f"{path}.value must be a string of at most {MAX_BUTTON_VALUE}")
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > MAX_BUTTON_URL):
            errors.append(f"{path}.url must be a string of at most {MAX_BUTTON_URL}")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.append(f"{path}.style must be 'primary' or 'danger', got {style!r}")
    elif kind == "plain_text_input":
        max_length = element.get("max_length")
        if max_length is not None and (
            not isinstance(max_length, int) or not 1 <= max_length <= MAX_TEXT_INPUT_LENGTH
        ):
            errors.append(f"{path}.max_length must be 1..{MAX_TEXT_INPUT_LENGTH}")
    options = element.get("options")
    if isinstance(options, list):
        for i, option in enumerate(options):
            errors += _check_option(
                f"{path}.options[{i}]", option, plain_only=kind in _MENU_ELEMENTS
            )
    return errors


def _check_option(path: str, option: Any, *, plain_only: bool) -> list[str]:
    """Check one option object of a select, overflow, checkboxes or radio group."""
    if not isinstance(option, dict):
        return [f"{path} must be an object"]
    errors = _check_text(
        f"{path}.text", option.get("text"), max_len=MAX_OPTION_TEXT, plain_only=plain_only
    )
    value = option.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_OPTION_VALUE):
        errors.append(f"{path}.value must be a string of at most {MAX_OPTION_VALUE}")
    return errors


def _check_text(path: str, obj: Any, *, max_len: int | None, plain_only: bool = False) -> list[str]:
    """Check a text object's type and length."""
    if not isinstance(obj, dict):
        return [f"{path} must be a text object, got {type(obj).__name__}"]
    kind = obj.get("type")
    text = obj.get("text")
    errors: list[str] = []
    if plain_only and kind != "plain_text":
        errors.append(f"{path}.type must be plain_text, got {kind!r}")
    elif kind not in TEXT_TYPES:
        errors.append(f"{path}.type must be plain_text or mrkdwn, got {kind!r}")
    if not isinstance(text, str) or not text:
        errors.append(f"{path}.text must be a non-empty string")
    elif max_len is not None and len(text) > max_len:
        errors.append(f"{path}.text is {len(text)} characters; Slack allows at most {max_len}")
    return errors


def _dedupe(errors: list[str]) -> list[str]:
    """Drop repeated messages while keeping their order."""
    return list(dict.fromkeys(errors))
