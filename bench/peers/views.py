"""`GET me` written the way each peer framework is used, answering the same JSON as
Dock's `GET /api/v1/me` (the same presenter), so a full request compares framework and
authentication and nothing else."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.api import presenters

from .auth import DrfTokenAuthentication, KnoxTokenAuthentication


class DrfMe(APIView):
    authentication_classes = [DrfTokenAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    def get(self, request):
        return Response(presenters.me(request.user.principal))


class KnoxMe(DrfMe):
    authentication_classes = [KnoxTokenAuthentication]
