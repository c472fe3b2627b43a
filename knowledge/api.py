from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from knowledge.embeddings import EmbeddingError
from knowledge.rendering import article_excerpt
from knowledge.selectors import kb_search


class KbSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=500, trim_whitespace=True)
    locale = serializers.ChoiceField(choices=[code for code, _ in settings.LANGUAGES], default="en")
    category = serializers.SlugField(required=False, allow_blank=True, max_length=64)
    limit = serializers.IntegerField(min_value=1, max_value=20, default=5)


class KbSearchHitSerializer(serializers.Serializer):
    title = serializers.CharField()
    slug = serializers.CharField()
    locale = serializers.CharField()
    category = serializers.CharField()
    heading = serializers.CharField()
    anchor = serializers.CharField()
    url = serializers.CharField()
    excerpt = serializers.SerializerMethodField()
    score = serializers.FloatField()
    vector_score = serializers.FloatField()
    text_rank = serializers.IntegerField(allow_null=True)

    def get_excerpt(self, hit) -> str:
        return article_excerpt(body=hit.text, length=300)


class KbSearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    locale = serializers.CharField()
    confidence = serializers.FloatField(help_text="Calibrated 0-1 probability that the top result answers the query.")
    answerable = serializers.BooleanField(help_text="confidence >= KB_ANSWER_THRESHOLD")
    results = KbSearchHitSerializer(many=True)


class LiveScopedRateThrottle(ScopedRateThrottle):
    """Reads the rate when asked; DRF's own class keeps the rates it saw at import time."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class KbSearchView(APIView):
    """Hybrid search over the published knowledge base, the same retrieval the copilot uses."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LiveScopedRateThrottle]
    throttle_scope = "kb_search"

    @extend_schema(
        parameters=[KbSearchQuerySerializer],
        responses={
            200: KbSearchResponseSerializer,
            503: OpenApiResponse(
                {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]},
                description="The embeddings server did not answer",
            ),
        },
    )
    def get(self, request: Request) -> Response:
        params = KbSearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        try:
            result = kb_search(
                query=data["q"], locale=data["locale"], category=data.get("category") or None, limit=data["limit"]
            )
        except EmbeddingError:
            return Response({"detail": "Search is unavailable right now; try again shortly."}, status=503)
        payload = {
            "query": result.query,
            "locale": data["locale"],
            "confidence": round(result.confidence, 4),
            "answerable": result.answerable,
            "results": result.hits,
        }
        return Response(KbSearchResponseSerializer(payload).data)
