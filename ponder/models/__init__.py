"""Chat models: any LangChain chat model, the embedded ones, and model specs by name."""

from ponder.models.embedded import EMBEDDED_MODELS, EmbeddedChatModel, EmbeddedName, locate_gguf
from ponder.models.resolve import ModelSpec, prompt_style_of, resolve_model
from ponder.models.samples import SampleSet, asample_n, sample_n
from ponder.models.traits import ModelTraits, traits_of

__all__ = (
    "EMBEDDED_MODELS",
    "EmbeddedChatModel",
    "EmbeddedName",
    "ModelSpec",
    "ModelTraits",
    "SampleSet",
    "asample_n",
    "locate_gguf",
    "prompt_style_of",
    "resolve_model",
    "sample_n",
    "traits_of",
)
