"""Chat models: any LangChain chat model, the embedded ones, and model specs by name."""

from ponder.models.embedded import EMBEDDED_MODELS, EmbeddedChatModel, EmbeddedName, locate_gguf
from ponder.models.resolve import ModelSpec, prompt_style_of, resolve_model

__all__ = (
    "EMBEDDED_MODELS",
    "EmbeddedChatModel",
    "EmbeddedName",
    "ModelSpec",
    "locate_gguf",
    "prompt_style_of",
    "resolve_model",
)
