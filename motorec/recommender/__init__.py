"""The multi-source graph recommender on item codes: graph, model, training, evaluation, recommendation."""

from motorec.recommender.baselines import ContentKNN, Popularity
from motorec.recommender.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from motorec.recommender.config import RecommenderConfig
from motorec.recommender.evaluate import SETTINGS, evaluate, protocol
from motorec.recommender.graph import normalized_adjacency, propagate
from motorec.recommender.index import IdIndex, IndexedSplit, index_split
from motorec.recommender.inputs import ModalityInputs, ModalitySpec
from motorec.recommender.joint import JointTokenizers
from motorec.recommender.metrics import evaluate_ranking
from motorec.recommender.model import MultiSourceGNN
from motorec.recommender.recommend import Scorer, recommend
from motorec.recommender.split import ColdSplit, read_split, strict_cold_split, write_split
from motorec.recommender.train import FitResult, fit

__all__ = [
    "SETTINGS",
    "Checkpoint",
    "ColdSplit",
    "ContentKNN",
    "FitResult",
    "IdIndex",
    "IndexedSplit",
    "JointTokenizers",
    "ModalityInputs",
    "ModalitySpec",
    "MultiSourceGNN",
    "Popularity",
    "RecommenderConfig",
    "Scorer",
    "evaluate",
    "evaluate_ranking",
    "fit",
    "index_split",
    "load_checkpoint",
    "normalized_adjacency",
    "propagate",
    "protocol",
    "read_split",
    "recommend",
    "save_checkpoint",
    "strict_cold_split",
    "write_split",
]
