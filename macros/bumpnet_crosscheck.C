/// \file bumpnet_crosscheck.C
/// Compare BumpNet's Z at one mass with the significance of a RooFit
/// likelihood-ratio fit, Z_LR.
///
///     root -l -b -q 'macros/bumpnet_crosscheck.C("file.root", "h_mgg2012_1_1", 125, "out")'
///
/// or, after `.L macros/bumpnet_crosscheck.C` (also from PyROOT):
///
///     double zLR = bumpnet_crosscheck(h, 125.);   // h: any 1-D TH1 in memory
///
/// A mass <= 0 (the default) means the mass of BumpNet's Z_max. The fit is
/// that of bumpnet_root.crosscheck.crosscheck with its default options: a
/// background function chosen by an F-test plus a Gaussian signal whose sigma
/// is the width of the bin containing the mass, and Z_LR = sign(n_s) sqrt(q0)
/// from the profile likelihood ratio.
///
/// BumpNet's Z comes from the scan of bumpnet_scan.C, which also writes its
/// files into the output directory when one is given. Z_LR comes through the
/// same way to Python (see bumpnet_scan.C). With TPython, it comes from
/// bumpnet_root.macro_bridge.crosscheck_th1. Otherwise the macro runs
/// `bumpnet crosscheck FILE --select NAME --mass M --out OUTDIR/crosscheck`
/// and reads Z_LR from OUTDIR/crosscheck/summary.json. The TPython path
/// writes no files for the fit.

#ifndef BUMPNET_CROSSCHECK_C
#define BUMPNET_CROSSCHECK_C

#include "bumpnet_scan.C"

namespace bumpnet_detail {

/// File that `bumpnet crosscheck --out DIR` writes into DIR: a list with one
/// entry per histogram, holding its "name" and, with --mass, "z_lr" as a
/// one-element array.
constexpr const char *kCrosscheckJson = "summary.json";

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Returns `mass`, or the mass of Z_max when `mass` <= 0. Returns NaN and
/// prints an error when the mass lies outside the histogram.
inline double ResolveMass(TH1D *z, double mass, const char *location)
{
   if (!(mass > 0)) {
      mass = z->GetBinCenter(z->GetMaximumBin());
      Info(location, "no mass given, so the cross-check uses the mass of BumpNet's Z_max, %g", mass);
   }
   const TAxis *axis = z->GetXaxis();
   if (!(mass >= axis->GetXmin() && mass < axis->GetXmax())) {
      Error(location, "the mass %g lies outside the histogram range [%g, %g)", mass, axis->GetXmin(),
            axis->GetXmax());
      return kNaN;
   }
   return mass;
}

inline double CrosscheckTPython(TH1 *h, double mass, const char *location)
{
   if (!BindToPython(h, "_bumpnet_input")) {
      Error(location, "TPython::Bind failed for %s", h->GetName());
      return kNaN;
   }
   const std::string code = "import ROOT\n"
                            "from bumpnet_root import macro_bridge as _bumpnet_bridge\n"
                            "_anyresult = _bumpnet_bridge.crosscheck_th1_any(_bumpnet_input, " +
                            std::string(TString::Format("%.17g", mass).Data()) + ")";
   std::any result;
   if (!ExecPython(code, &result)) {
      Error(location, "the cross-check of %s failed in Python; the Python error is above", h->GetName());
      return kNaN;
   }
   return AnyCast<double>(result, location);
}

/// Runs `bumpnet crosscheck` on the histogram `name` of `file` and returns
/// Z_LR at `mass`. The command writes into OUTDIR/crosscheck, or into a
/// temporary directory when `outdir` is empty.
inline double CrosscheckCommand(const std::string &file, const std::string &name, double mass,
                                const std::string &outdir, const char *location)
{
   const std::string target = outdir.empty() ? "" : (std::filesystem::path(outdir) / "crosscheck").string();
   WorkDirectory directory(target, location);
   if (!directory.Ok())
      return kNaN;
   const std::string arguments = "crosscheck " + ShellQuote(file) + " --select " + ShellQuote(GlobEscape(name)) +
                                 " --mass " + TString::Format("%.17g", mass).Data() + " --out " +
                                 ShellQuote(directory.Str());
   if (!RunCommand(location, arguments, false))
      return kNaN;
   std::vector<double> zLR;
   std::string error;
   if (!ReadJsonArray(directory.Path(kCrosscheckJson), "name", name, "z_lr", zLR, error)) {
      Error(location, "%s", error.c_str());
      return kNaN;
   }
   if (zLR.size() != 1) {
      Error(location, "expected one Z_LR for the mass %g in %s, got %zu", mass,
            directory.Path(kCrosscheckJson).c_str(), zLR.size());
      return kNaN;
   }
   return zLR[0];
}

inline void PrintComparison(const std::string &label, double mass, double zNet, double zLR)
{
   printf("%s at mass %g: BumpNet Z = %.3f, RooFit Z_LR = %.3f\n", label.c_str(), mass, zNet, zLR);
   fflush(stdout);
}

} // namespace bumpnet_detail

/// Scans `h` with BumpNet, fits it with RooFit at `mass` and prints both
/// significances. Returns Z_LR, or NaN on failure.
double bumpnet_crosscheck(TH1 *h, double mass = -1, const char *outdir = "")
{
   using namespace bumpnet_detail;
   const char *location = "bumpnet_crosscheck";
   const std::string directoryName = outdir ? outdir : "";
   std::unique_ptr<TH1D> z(bumpnet_scan(h, directoryName.c_str()));
   if (!z)
      return kNaN;
   mass = ResolveMass(z.get(), mass, location);
   if (std::isnan(mass))
      return kNaN;
   double zLR = kNaN;
   switch (ChooseMode(location)) {
   case Mode::kFailed: return kNaN;
   case Mode::kTPython: zLR = CrosscheckTPython(h, mass, location); break;
   case Mode::kCommand: {
      WorkDirectory scratch("", location);
      const std::string key = SafeName(h->GetName());
      const std::string input = scratch.Path("bumpnet_input.root");
      if (scratch.Ok() && WriteInput(h, input, key, location))
         zLR = CrosscheckCommand(input, key, mass, directoryName, location);
      break;
   }
   }
   PrintComparison(h->GetName(), mass, z->GetBinContent(z->FindFixBin(mass)), zLR);
   return zLR;
}

/// Cross-checks the histogram at path `histname` in `file` like the TH1
/// overload. Returns the exit status for `root -q`: 0 when Z_LR was
/// computed, else 1.
int bumpnet_crosscheck(const char *file, const char *histname, double mass = -1, const char *outdir = "")
{
   using namespace bumpnet_detail;
   const char *location = "bumpnet_crosscheck";
   if (!file || !histname) {
      Error(location, "pass a file and a histogram path");
      return 1;
   }
   const std::string directoryName = outdir ? outdir : "";
   std::unique_ptr<TList> zs(bumpnet_scan_file(file, GlobEscape(histname).c_str(), directoryName.c_str()));
   auto *z = zs ? static_cast<TH1D *>(zs->FindObject(histname)) : nullptr;
   if (!z) {
      if (zs)
         Error(location, "the scan of %s returned no Z histogram for %s", file, histname);
      return 1;
   }
   mass = ResolveMass(z, mass, location);
   if (std::isnan(mass))
      return 1;
   double zLR = kNaN;
   switch (ChooseMode(location)) {
   case Mode::kFailed: return 1;
   case Mode::kTPython: {
      std::unique_ptr<TH1> h;
      {
         TDirectory::TContext restoreDirectory;
         std::unique_ptr<TFile> input(TFile::Open(file, "READ"));
         auto *read = input && !input->IsZombie() ? input->Get<TH1>(histname) : nullptr;
         if (!read) {
            Error(location, "cannot read the histogram %s from %s", histname, file);
            return 1;
         }
         h.reset(static_cast<TH1 *>(read->Clone()));
         h->SetDirectory(nullptr);
      }
      zLR = CrosscheckTPython(h.get(), mass, location);
      break;
   }
   case Mode::kCommand: zLR = CrosscheckCommand(file, histname, mass, directoryName, location); break;
   }
   PrintComparison(std::string(file) + ":" + histname, mass, z->GetBinContent(z->FindFixBin(mass)), zLR);
   return std::isfinite(zLR) ? 0 : 1;
}

/// Prints the usage. `root macros/bumpnet_crosscheck.C` without arguments calls it.
int bumpnet_crosscheck()
{
   printf("usage: root -l -b -q 'macros/bumpnet_crosscheck.C(\"file.root\", \"histogram\", mass, \"outdir\")'\n"
          "   or: .L macros/bumpnet_crosscheck.C, then bumpnet_crosscheck(h, mass) for a TH1* h\n");
   return 2;
}

#endif // BUMPNET_CROSSCHECK_C
